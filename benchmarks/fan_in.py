"""What one instance spends on a notification it only hears (issue 13, "Beyond one machine").

Every instance subscribes to the one Redis channel and receives every notification of the
deployment, whether or not it holds a stream for it: that cost, times the deployment's
rate, is taken from every instance's core. This measures it apart, in one process with the
app's own parts (RedisBroker, DeliverySequencer, Hub with no stream for these recipients)
while another process publishes envelopes as the app does (pipelines of 200), paced:

- bus only: RedisBroker reading and dispatching to a handler that does nothing;
- the instance: the same, into the sequencer and the hub (ids in order: no database read).

Reported: the subscriber's CPU per notification (process time over the window / messages
received), and Redis's own (INFO cpu) per notification published and sent to this one
subscriber, median of `--repeat` runs.

    python -m benchmarks.fan_in [--count 40000] [--rate 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import time

import redis

from app.broker.redis import RedisBroker
from app.core.connection import Route, encode_envelope
from app.core.hub import Hub
from app.core.sse import event_frame
from app.services.delivery import DeliverySequencer

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
CHANNEL = "notifications"
CHUNK = 200  # the app's RedisBroker.batch_size


def envelopes(count: int) -> list[bytes]:
    """Notifications to customers nobody here streams to, in id order."""
    body = (
        b'{"id":%d,"notification_type":"booking_created","title":"New booking",'
        b'"message":"Anna booked a haircut for Friday 10:00","priority":"normal"}'
    )
    now = time.time()
    return [
        encode_envelope(
            Route(i, "customer", 100_000 + i % 5_000, 1, "booking_created", 1, now),
            event_frame("notification", body % i, i),
        )
        for i in range(1, count + 1)
    ]


def publish(prefix: str, count: int, rate: float) -> None:
    """The other instance: publishes `count` envelopes, CHUNK per pipeline, at `rate`/s."""
    client = redis.Redis.from_url(REDIS_URL)
    messages = envelopes(count)
    key, start = f"{prefix}:{CHANNEL}", time.monotonic()
    for n in range(0, count, CHUNK):
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        pipe = client.pipeline(transaction=False)
        for message in messages[n : n + CHUNK]:
            pipe.publish(key, message)
        pipe.execute()
    client.close()


def redis_cpu() -> float:
    """Seconds of CPU the Redis server has used (main thread and the others)."""
    info = redis.Redis.from_url(REDIS_URL).info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


async def measure(mode: str, count: int, rate: float) -> tuple[float, float]:
    """The subscriber's CPU per notification, and Redis's, in µs."""
    prefix = f"salon-fan-in-{os.getpid()}-{time.monotonic_ns()}"
    broker = RedisBroker(REDIS_URL, prefix)
    await broker.start()
    received = 0
    done = asyncio.get_running_loop().create_future()
    hub = Hub(ping_interval=3600, max_pending=100)
    await hub.start()
    # No database: ids come in order, so the sequencer never reads one (nor polls, here).
    sequencer = DeliverySequencer(hub, broker, CHANNEL, None, None, poll_interval=3600)  # type: ignore[arg-type]

    def count_in(message: bytes) -> None:
        nonlocal received
        received += 1
        if mode == "instance":
            sequencer.on_message(message)
        if received == count and not done.done():
            done.set_result(None)

    await broker.subscribe(CHANNEL, count_in)
    await asyncio.sleep(0.2)  # subscribed before the first publication
    publisher = multiprocessing.Process(target=publish, args=(prefix, count, rate))
    cpu, redis_before = time.process_time(), redis_cpu()
    publisher.start()
    try:
        await asyncio.wait_for(done, timeout=count / rate + 30)
    finally:
        cpu = time.process_time() - cpu
        publisher.join(30)
        redis_used = redis_cpu() - redis_before
        await broker.stop()
        await hub.stop()
    if mode == "instance" and sequencer.cursor != count:
        raise RuntimeError(f"the hub got to {sequencer.cursor}, not {count}")
    return cpu / count * 1e6, redis_used / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--count", type=int, default=40_000)
    parser.add_argument("--rate", type=float, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{args.count:,} notifications at {args.rate:,.0f}/s, median of {args.repeat}")
    print(
        "| what an instance does with a notification it has no stream for |"
        " instance CPU µs each (runs) | Redis CPU µs each |"
    )
    print("|---|---|---|")
    for mode, label in (("bus", "bus only (RedisBroker)"), ("instance", "bus + sequencer + hub")):
        runs = [asyncio.run(measure(mode, args.count, args.rate)) for _ in range(args.repeat)]
        spread = ", ".join(f"{cpu:.1f}" for cpu, _ in runs)
        ours = statistics.median(cpu for cpu, _ in runs)
        theirs = statistics.median(r for _, r in runs)
        print(f"| {label} | {ours:.1f} ({spread}) | {theirs:.1f} |", flush=True)


if __name__ == "__main__":
    main()
