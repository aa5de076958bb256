"""Where the limits keep their counts, chosen like the broker: one process, or Redis."""

from __future__ import annotations

from urllib.parse import urlsplit

from app.limits.base import LimitStore, LimitStoreError

__all__ = ["LimitStore", "LimitStoreError", "create_limit_store"]


def create_limit_store(url: str, prefix: str = "salon") -> LimitStore:
    """`memory://`: this process's counts; `redis://`: the deployment's, keys under `prefix`."""
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        from app.limits.memory import MemoryLimitStore

        return MemoryLimitStore()
    if scheme in ("redis", "rediss"):
        from app.limits.redis import RedisLimitStore

        return RedisLimitStore(url, prefix)
    raise ValueError(f"unsupported limit store URL scheme {scheme!r} in {url!r}")
