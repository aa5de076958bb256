"""Broker backends, chosen by URL scheme."""

from __future__ import annotations

from urllib.parse import urlsplit

from app.broker.base import Broker, BrokerError, Handler

__all__ = ["Broker", "BrokerError", "Handler", "create_broker"]


def missing_extra(url: str) -> str | None:
    """What to install for BROKER_URL's scheme, or None when nothing is missing."""
    if urlsplit(url).scheme not in ("redis", "rediss"):
        return None
    try:
        import redis  # noqa: F401
    except ImportError:
        return "BROKER_URL=redis:// needs the redis extra: pip install 'salon-notifications[redis]'"
    return None


def create_broker(url: str, prefix: str = "salon") -> Broker:
    """`memory://` (one process) or `redis://host:port/db`; channel names get `prefix`."""
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        from app.broker.memory import MemoryBroker

        return MemoryBroker()
    if scheme in ("redis", "rediss"):
        from app.broker.redis import RedisBroker

        return RedisBroker(url, prefix)
    raise ValueError(
        f"unsupported BROKER_URL scheme {scheme!r} in {url!r}: use memory:// or redis://"
    )
