"""The domain: accounts, salons, notifications. Never imports fastapi."""
