"""Closed-loop load and the CPU it costs: `lanes` clients, each sending its next request as
soon as the previous one is answered, for a fixed time. One lane is a client alone (every
request pays the server's fixed costs, nothing grouped); 8 and 32 are a few at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from benchmarks.clients import Pool
from benchmarks.latency import ms, percentile
from benchmarks.procstat import ProcStat, own_cpu, waited

Answer = Callable[[int, bytes], None]  # status, body
NextRequest = Callable[[], tuple[bytes, Answer]]


async def run_lanes(
    pool: Pool, lanes: int, duration: float, next_request: NextRequest
) -> list[float]:
    """Round trips (seconds) of every request sent; `pool` must hold `lanes` connections."""
    loop = asyncio.get_running_loop()
    end = loop.time() + duration
    rtts: list[float] = []
    active = [lanes]
    finished: asyncio.Future[None] = loop.create_future()

    def launch() -> None:
        request, on_answer = next_request()

        def done(status: int, body: bytes, sent: float) -> None:
            rtts.append(time.time() - sent)
            on_answer(status, body)
            if loop.time() < end:
                launch()
                return
            active[0] -= 1
            if active[0] == 0 and not finished.done():
                finished.set_result(None)

        pool.submit(request, done)

    await pool.ensure()
    for _ in range(lanes):
        launch()
    # A lane whose connection broke never answers: the timeout tells.
    await asyncio.wait_for(finished, duration + 30)
    return rtts


class Window:
    """CPU of some server processes and of the load generator over a stretch of time."""

    def __init__(self, servers: list[ProcStat]) -> None:
        self.servers = servers
        self.cpu0 = [s.cpu() for s in servers]
        self.wait0 = [s.waited() for s in servers]
        self.own0, self.own_wait0, self.t0 = own_cpu(), waited(), time.time()
        self.cpu: list[float] = []
        self.elapsed = 0.0
        self.figures: dict[str, Any] = {}

    def close(self) -> dict[str, Any]:
        """Ends the window: its wall time, loadgen CPU %, each server's CPU s and waits."""
        self.elapsed = time.time() - self.t0
        self.cpu = [s.cpu() - c for s, c in zip(self.servers, self.cpu0, strict=True)]
        waits = [s.waited() - w for s, w in zip(self.servers, self.wait0, strict=True)]
        self.figures = {
            "duration": round(self.elapsed, 3),
            "loadgen_cpu_pct": round(100 * (own_cpu() - self.own0) / self.elapsed, 1),
            "loadgen_cpu_wait_pct": round(100 * (waited() - self.own_wait0) / self.elapsed, 1),
            "server_cpu_wait_pct": round(100 * max(waits) / self.elapsed, 1),
        }
        return self.figures


def cost(rtts: list[float], cpu_s: float, elapsed: float) -> dict[str, Any]:
    """Per-request figures of a closed-loop run: rate, server CPU each, round trips."""
    rtts.sort()
    count = len(rtts)
    return {
        "requests": count,
        "per_s": round(count / elapsed, 1),
        "server_cpu_s": round(cpu_s, 3),
        "server_cpu_pct": round(100 * cpu_s / elapsed, 1),
        "server_cpu_ms_per_request": round(1000 * cpu_s / count, 3) if count else None,
        "rtt_p50_ms": ms(percentile(rtts, 0.5)),
        "rtt_p99_ms": ms(percentile(rtts, 0.99)),
    }
