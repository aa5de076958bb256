"""Password hashing off the event loop, on a small pool of threads of its own.

An argon2 hash costs tens of milliseconds of CPU. On the default executor, a dozen
concurrent logins ran a dozen hashes at once and took the CPU from the event loop (an
authenticated REST call went from 42 to 300 ms). Here at most HASH_THREADS run at once,
whatever the number of logins: the rest wait their turn, and the loop keeps a core. How
many may wait is bounded in front of it, by the requests' limiter (Limiter.password_check,
PASSWORD_HASH_QUEUE): past it a caller is refused at once rather than queued.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

from app.core.security import hash_password, verify_password

# Half the cores, at least one: the other half stays for the event loop (and the database).
HASH_THREADS = max(1, (os.cpu_count() or 2) // 2)
_pool = ThreadPoolExecutor(max_workers=HASH_THREADS, thread_name_prefix="password-hash")


async def hash_password_off_loop(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_pool, hash_password, password)


async def verify_password_off_loop(password: str, password_hash: str | None) -> bool:
    """`verify_password`: False for a wrong password or a missing hash (costing the same)."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_pool, verify_password, password, password_hash)
