"""Configuration, security primitives and the hub of live connections."""
