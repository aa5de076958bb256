"""Helpers shared by the test suites: a real server, databases, SSE, factories."""
