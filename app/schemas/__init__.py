"""Pydantic models of the API: *Create for input, *Public for output."""
