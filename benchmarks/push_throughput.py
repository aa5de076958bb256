"""Web Push throughput: pushes per second and the server's CPU per push, against the
loopback push service of the tests (tests/utils/push_service.py, here accepting without
checking so that it is not the bottleneck).

    python -m benchmarks.push_throughput [--customers 20] [--per-customer 10]

One `salon serve` on a fresh SQLite database; every customer subscribes
PUSH_MAX_SUBSCRIPTIONS_PER_USER (10) browsers; one batch request creates the notifications
(none of them has a stream, so every one is pushed to every browser of its customer). The
clock and the CPU count start when the batch is answered and stop at the last push
received. The machine is shared: quote the figure with its noise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path

from tests.utils.db import fresh_database_url
from tests.utils.factories import API, connect, expect
from tests.utils.push_service import loopback_push_service
from tests.utils.server import ServerProcess, server_env

SUBSCRIPTIONS_PER_CUSTOMER = 10


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(customers: int, per_customer: int, concurrency: int) -> dict[str, float]:
    workdir = Path(tempfile.mkdtemp(prefix="push-bench-"))
    database_url, drop = fresh_database_url("sqlite", workdir)
    settings = {
        "PUSH_ALLOW_PRIVATE_ENDPOINTS": "1",
        "PUSH_DELAY_SECONDS": "1",
        "PUSH_POLL_INTERVAL": "0.05",
        "LOG_LEVEL": "warning",
        "PUSH_CONCURRENCY": str(concurrency),
        "LIMIT_PUSHES_PER_SALON": "0",  # one salon's pushes: the sender's speed, not the limit
    }
    server = ServerProcess(server_env(database_url, **settings), workdir=workdir)
    await server.astart()
    try:
        async with connect(server, http_timeout=60) as api:
            key = expect(await api.client.get(f"{API}/push/vapid-public-key"), 200).json()
            async with loopback_push_service(key["public_key"], check=False) as service:
                salon = await api.create_salon()
                admin = await api.create_admin(salon.id)
                accounts = [await api.register_customer() for _ in range(customers)]
                for account in accounts:
                    for _ in range(SUBSCRIPTIONS_PER_CUSTOMER):
                        body = service.new_subscription().to_json()
                        answer = await api.client.post(
                            f"{API}/push/subscriptions", json=body, headers=account.headers
                        )
                        expect(answer, 201)
                items = [
                    {
                        "notification_type": "bench",
                        "title": "Benchmark",
                        "message": "A push for a browser that is closed",
                        "recipient_type": "customer",
                        "recipient_id": account.id,
                    }
                    for account in accounts
                    for _ in range(per_customer)
                ]
                expected = len(items) * SUBSCRIPTIONS_PER_CUSTOMER
                answer = await api.client.post(
                    f"{API}/notifications/batch",
                    json={"notifications": items},
                    headers=admin.headers,
                )
                expect(answer, 201)
                assert server.pid is not None
                cpu_start, clock_start = cpu_seconds(server.pid), time.monotonic()
                async with asyncio.timeout(300):
                    while len(service.pushes) < expected:
                        await asyncio.sleep(0.02)
                cpu = cpu_seconds(server.pid) - cpu_start
                first = min(p.received_at for p in service.pushes)
                last = max(p.received_at for p in service.pushes)
                return {
                    "pushes": expected,
                    "pushes_per_second": round(expected / max(last - first, 1e-9), 1),
                    "server_cpu_ms_per_push": round(cpu * 1000 / expected, 3),
                    "first_push_after_s": round(first - clock_start, 3),
                }
    finally:
        await server.astop()
        drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=20)
    parser.add_argument("--per-customer", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=20, help="PUSH_CONCURRENCY")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.customers, args.per_customer, args.concurrency))))


if __name__ == "__main__":
    main()
