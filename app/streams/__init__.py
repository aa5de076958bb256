"""Live streams: one StreamSession per stream, whatever carries it (see session.py)."""
