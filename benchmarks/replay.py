"""What a `Last-Event-ID` replay costs the server per notification it replays (issue 20).

One server on core 0 with a history of `--history` notifications to one salon; `--clients`
admin streams of that salon reconnect at once with `Last-Event-ID: 0` and read all of it
as fast as they can (this process, on core 1). Reported: the server's CPU over that
window per notification replayed (clients x history), and the window's length; the
median of `--repeat` rounds, each round's figures in brackets.

    python -m benchmarks.replay [--db sqlite|postgres] [--history 5000] [--clients 20]
                                [--repeat 5] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

from benchmarks.procstat import ProcStat
from benchmarks.servers import LOADGEN_CORE, Server

BATCH = 500  # the batch endpoint's largest request
STREAM = "/api/v1/notifications/stream"
FRAME = b"event: notification\n"


def fill(port: int, token: str, count: int) -> int:
    """`count` salon notifications through the batch endpoint; the newest id."""
    newest = 0
    for start in range(0, count, BATCH):
        items = [
            {
                "recipient_type": "salon",
                "notification_type": "booking_created",
                "title": "New booking",
                "message": f"Anna booked a haircut for Friday 10:00 (#{start + n})",
                "extra_data": {"appointment_id": start + n, "service": "haircut"},
            }
            for n in range(min(BATCH, count - start))
        ]
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/notifications/batch",
            data=json.dumps({"notifications": items}).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            stored = json.loads(response.read())
        newest = max(newest, *(int(note["id"]) for note in stored["notifications"]))
    return newest


async def read_replay(port: int, token: str, newest: int, expected: int) -> None:
    """One client: open the stream from the start, read until the newest id has come."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET {STREAM} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n"
        "Last-Event-ID: 0\r\n\r\n".encode()
    )
    last, seen, before = b"\nid: %d\n" % newest, 0, b""
    try:
        while True:
            data = await reader.read(1 << 18)
            if not data:
                raise RuntimeError(f"the stream ended after {seen} of {expected} notifications")
            # A marker split across two reads is found with the end of the one before,
            # kept one byte shorter than the marker so that none is counted twice.
            seen += (before[-len(FRAME) + 1 :] + data).count(FRAME)
            if last in before[-len(last) + 1 :] + data:
                break
            before = data
    finally:
        writer.close()
    if seen != expected:
        raise RuntimeError(f"{seen} notifications replayed, {expected} expected")


async def one_round(server: Server, tokens: list[str], newest: int, history: int) -> float:
    proc = ProcStat(server.pid)
    cpu = proc.cpu()
    await asyncio.wait_for(
        asyncio.gather(*(read_replay(server.port, t, newest, history) for t in tokens)), 300
    )
    return proc.cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--db", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--history", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="history 2,000, 10 clients, 3 rounds")
    args = parser.parse_args()
    if args.quick:
        args.history, args.clients, args.repeat = 2000, 10, 3
    os.sched_setaffinity(0, {int(LOADGEN_CORE)})
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as workdir:
        server = Server("product", args.db, "memory", 30, Path(workdir), (args.clients, 1))
        server.start()
        try:
            assert server.accounts is not None
            newest = fill(server.port, server.accounts.sender_token, args.history)
            tokens = server.accounts.admin_tokens[: args.clients]
            runs = []
            for _ in range(args.repeat):
                started = time.monotonic()
                cpu = asyncio.run(one_round(server, tokens, newest, args.history))
                runs.append((cpu / (args.clients * args.history) * 1e6, time.monotonic() - started))
        finally:
            server.stop()
    cpu_runs = ", ".join(f"{cpu:.1f}" for cpu, _ in runs)
    wall_runs = ", ".join(f"{wall:.2f}" for _, wall in runs)
    print(
        f"replay, {args.db}: {args.clients} streams x {args.history:,} notifications, "
        f"median of {args.repeat}"
    )
    print(f"server CPU per notification replayed: {statistics.median(c for c, _ in runs):.1f} µs")
    print(f"  rounds: {cpu_runs}")
    print(f"round's wall time: {statistics.median(w for _, w in runs):.2f} s ({wall_runs})")


if __name__ == "__main__":
    main()
