"""The load generator's closed-loop scenarios (benchmarks/closed_loop.py):

- S4, one client's cost: single POSTs from 1, 8 and 32 clients at once, each to a customer
  whose stream is open (server CPU per POST, round trip, latency to the stream from send);
  then REST reads as one customer (`GET /notifications`, `/unread-count`, and `/healthz` as
  the floor): server CPU per request and round trip.
- S5, the write ceiling: 1, 2 or 4 instances on one PostgreSQL database and one Redis
  (started by the harness, one run per count), each driven by its own clients; what they
  create per second together through the ordered write, and what an instance with no
  stream (the observer) spends per notification it receives and only filters.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from benchmarks.bodies import NOTIFY, batch_body, customer_items
from benchmarks.clients import Pool, SseStream, post_request, rest_get
from benchmarks.closed_loop import Answer, Window, cost, run_lanes
from benchmarks.latency import Created, analyse, recording, stamp
from benchmarks.procstat import ProcStat

if TYPE_CHECKING:
    from benchmarks.loadgen import LoadGen

READER_NOTIFICATIONS = 60  # the reader's list holds a full default page (50)


async def s4(gen: LoadGen) -> dict[str, Any]:
    p = gen.params
    streams = await gen.open_streams(gen.customer_requests(p["streams"]))
    ids = [uid for uid, _ in gen.accounts["customers"][: len(streams)]]
    make_item = customer_items(ids)
    pool = Pool(gen.port)
    await pool.open(max(p["concurrency"] + p["read_concurrency"]))
    await gen.warm_up(pool, make_item)
    posts = [await s4_posts(gen, streams, pool, lanes) for lanes in p["concurrency"]]
    reads = await s4_reads(gen, pool, ids[0])
    pool.close()
    return {"posts": posts, "reads": reads}


async def s4_posts(
    gen: LoadGen, streams: list[SseStream], pool: Pool, lanes: int
) -> dict[str, Any]:
    token = gen.token
    ids = [uid for uid, _ in gen.accounts["customers"][: len(streams)]]
    make_item = customer_items(ids, seed=lanes)
    for stream in streams:
        stream.recs = []
    created: dict[int, Created] = {}
    errors = [0]
    ids0 = gen.progress.ids

    def next_request() -> tuple[bytes, Answer]:
        prefix, recipient = make_item()
        body = stamp(prefix, time.time_ns())
        return post_request(NOTIFY, token, body), recording(created, errors, [recipient], False)

    window = Window([gen.server])
    rtts = await run_lanes(pool, lanes, gen.params["duration"], next_request)
    figures = window.close()
    send_end = time.time()
    drained = await gen.drain(ids0 + len(created), send_end)
    result = {"lanes": lanes, "errors": errors[0], "drained": drained, **figures}
    result.update(cost(rtts, window.cpu[0], window.elapsed))
    result.update(analyse(streams, created, window.t0, send_end))
    gen.log_figures(f"S4 {lanes} posting", result)
    await asyncio.sleep(0.5)
    return result


async def s4_reads(gen: LoadGen, pool: Pool, reader_id: int) -> list[dict[str, Any]]:
    """REST reads as the first customer, once their list holds a full page."""
    prefix, _ = customer_items([reader_id])()
    body = batch_body([prefix] * READER_NOTIFICATIONS, time.time_ns())
    status, _, _ = await pool.fetch(post_request(NOTIFY + "/batch", gen.token, body))
    if status != 201:
        raise RuntimeError(f"seeding the reader's notifications answered {status}")
    token = gen.accounts["customers"][0][1]
    results = []
    for name, path in gen.params["reads"]:
        request = rest_get(path, token)
        for _ in range(20):  # first-use costs out of the way
            await pool.fetch(request)
        for lanes in gen.params["read_concurrency"]:
            errors = [0]

            def on_answer(status: int, body: bytes, errors: list[int] = errors) -> None:
                errors[0] += status != 200

            def next_request(request: bytes = request) -> tuple[bytes, Answer]:
                return request, on_answer

            window = Window([gen.server])
            rtts = await run_lanes(pool, lanes, gen.params["duration"], next_request)
            figures = window.close()
            result = {"read": name, "path": path, "lanes": lanes, "errors": errors[0], **figures}
            result.update(cost(rtts, window.cpu[0], window.elapsed))
            gen.log_figures(f"S4 {name} x{lanes}", result)
            results.append(result)
    return results


async def s5(gen: LoadGen) -> dict[str, Any]:
    p, spec = gen.params, gen.spec
    writers = [(i["port"], ProcStat(i["pid"])) for i in spec["instances"]]
    observer = ProcStat(spec["observer"]["pid"]) if spec.get("observer") else None
    pools = [Pool(port) for port, _ in writers]
    for pool in pools:
        await pool.open(max(lanes for _, _, lanes in p["phases"]))
    ids = [uid for uid, _ in gen.accounts["customers"]]  # nobody streams: stored, filtered
    for pool in pools:
        await gen.warm_up(pool, customer_items(ids))
    idle = await idle_cpu_per_s(observer, p["observer_idle"]) if observer else None
    phases = []
    for mode, size, lanes in p["phases"]:
        phase = await s5_phase(gen, pools, writers, observer, idle, (mode, size, lanes), ids)
        phases.append(phase)
        await asyncio.sleep(0.5)
    for pool in pools:
        pool.close()
    return {"writers": len(writers), "observer_idle_cpu_pct": idle and 100 * idle, "phases": phases}


async def idle_cpu_per_s(process: ProcStat, seconds: float) -> float:
    c0, t0 = process.cpu(), time.time()
    await asyncio.sleep(seconds)
    return (process.cpu() - c0) / (time.time() - t0)


async def s5_phase(
    gen: LoadGen,
    pools: list[Pool],
    writers: list[tuple[int, ProcStat]],
    observer: ProcStat | None,
    idle: float | None,
    shape: tuple[str, int, int],
    ids: list[int],
) -> dict[str, Any]:
    """`shape`: single or batch, notifications a request (single: 1), clients per writer."""
    p, token = gen.params, gen.token
    mode, size, lanes = shape
    created: dict[int, Created] = {}
    errors = [0]
    make_item = customer_items(ids, seed=size)

    def next_request() -> tuple[bytes, Answer]:
        on_answer = recording(created, errors, [None] * size, batch=mode != "single")
        if mode == "single":
            body = stamp(make_item()[0], time.time_ns())
            return post_request(NOTIFY, token, body), on_answer
        body = batch_body([make_item()[0] for _ in range(size)], time.time_ns())
        return post_request(NOTIFY + "/batch", token, body), on_answer

    processes = [stat for _, stat in writers] + ([observer] if observer else [])
    window = Window(processes)
    runs = [run_lanes(pool, lanes, p["duration"], next_request) for pool in pools]
    rtts = [rtt for one in await asyncio.gather(*runs) for rtt in one]
    figures = window.close()
    writers_cpu = window.cpu[: len(writers)]
    result: dict[str, Any] = {"mode": mode, "size": size, "lanes": lanes, "errors": errors[0]}
    result.update(figures)
    result.update(cost(rtts, sum(writers_cpu), window.elapsed))
    result.update(
        notifications=len(created),
        notifications_per_s=round(len(created) / window.elapsed, 1),
        writer_cpu_pct=[round(100 * c / window.elapsed, 1) for c in writers_cpu],
        writer_cpu_ms_per_notification=round(1000 * sum(writers_cpu) / max(1, len(created)), 3),
    )
    if observer is not None and created:
        spent = window.cpu[-1] - (idle or 0.0) * window.elapsed
        result["observer_cpu_pct"] = round(100 * window.cpu[-1] / window.elapsed, 1)
        result["observer_cpu_us_per_notification"] = round(1e6 * spent / len(created), 1)
    gen.log_figures(f"S5 {len(writers)} writers {mode}x{size}", result)
    return result
