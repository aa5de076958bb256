"""Queries, one module per aggregate; they flush but never commit."""
