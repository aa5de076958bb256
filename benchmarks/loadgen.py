"""The load generator: one process, pinned by the harness to the core the server does not
use (`taskset -c 1 python -m benchmarks.loadgen SPEC.json OUT.json`), uvloop and raw
Protocols (benchmarks/clients.py). It opens the streams, sends the notifications on an
open-loop schedule, samples the server's /proc figures and its own CPU, and writes one
JSON result; the analysis (latency, loss) runs after each phase, outside its window.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
from collections.abc import Callable
from typing import Any

import uvloop

from benchmarks.bodies import NOTIFY, Item, batch_body, customer_items, salon_item
from benchmarks.clients import Pool, Progress, SseStream, get_request, post_request
from benchmarks.cost import s4, s5
from benchmarks.latency import Created, analyse, ms, percentile, recording, stamp
from benchmarks.procstat import ProcStat, own_cpu, raise_open_files_limit, waited
from benchmarks.report import held

BATCH_TICK = 0.02  # the batch endpoint gets one request every 20 ms
QUEUE_CAP = 64  # requests waiting for a free connection; past it the due ones are not sent
OPEN_CONCURRENCY = 100
PROBE_EVERY = 0.01


def log(message: str) -> None:
    print(f"[loadgen {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class LoadGen:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.params: dict[str, Any] = spec["params"]
        self.port: int = spec["port"]
        self.naive = spec["target"] == "naive"
        self.server = ProcStat(spec["server_pid"])
        self.accounts = spec["accounts"]
        self.progress = Progress()
        self.probe = Pool(self.port)

    @property
    def token(self) -> str:
        """The sender admin's: every notification is created as them."""
        return self.accounts["sender_token"]  # type: ignore[no-any-return]

    def log_figures(self, what: str, result: dict[str, Any]) -> None:
        plain = (f"{k} {v}" for k, v in result.items() if not isinstance(v, dict | list))
        log(f"{what}: {', '.join(plain)}")

    # streams -----------------------------------------------------------------------------

    def admin_requests(self, count: int) -> list[bytes]:
        salon = self.accounts["salon_id"]
        path = NOTIFY + "/stream"
        return [
            get_request(f"{path}?salon_id={salon}&user_id={uid}" if self.naive else path, token)
            for uid, token in self.accounts["admins"][:count]
        ]

    def customer_requests(self, count: int) -> list[bytes]:
        path = NOTIFY + "/customer/stream"
        return [
            get_request(f"{path}?customer_id={uid}" if self.naive else path, token)
            for uid, token in self.accounts["customers"][:count]
        ]

    async def open_streams(self, requests: list[bytes], first: int = 0) -> list[SseStream]:
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(OPEN_CONCURRENCY)
        streams: list[SseStream | None] = [None] * len(requests)

        async def one(i: int, request: bytes) -> None:
            async with gate:
                for _attempt in range(3):
                    stream = SseStream(first + i, request, self.progress)
                    try:
                        await loop.create_connection(lambda s=stream: s, "127.0.0.1", self.port)
                        await asyncio.wait_for(stream.waiter, 30)
                        streams[i] = stream
                        return
                    except (OSError, RuntimeError, TimeoutError) as exc:
                        stream.close()
                        log(f"stream {first + i}: {exc!r}; retrying")
                        await asyncio.sleep(0.2)

        await asyncio.gather(*(one(i, r) for i, r in enumerate(requests)))
        opened = [s for s in streams if s is not None]
        if len(opened) != len(requests):
            raise RuntimeError(f"opened only {len(opened)} of {len(requests)} streams")
        return opened

    async def reopen(self, streams: list[SseStream], requests: list[bytes]) -> list[SseStream]:
        for stream in streams:
            stream.close()
        await asyncio.sleep(1.0)
        return await self.open_streams(requests)

    # server-side figures --------------------------------------------------------------------

    async def scrape_metrics(self) -> dict[str, float]:
        """Samples of /metrics that tell about the event loop and the collector (product only)."""
        if self.naive:
            return {}
        status, body, _ = await self.probe.fetch(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        if status != 200:
            return {}
        samples = {}
        for line in body.decode().splitlines():
            if line.startswith("#") or not line.strip():
                continue
            name, _, value = line.rpartition(" ")
            if any(k in name for k in ("loop", "lag", "gc", "pause", "slow_consumers", "failed")):
                samples[name] = float(value)
        return samples

    async def probe_loop(self, rtts: list[float], stop: asyncio.Event) -> None:
        """GET /healthz every 10 ms: its round trip bounds how long the loop stood still."""
        request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        while not stop.is_set():
            try:
                rtts.append((await self.probe.fetch(request, timeout=30))[2])
            except TimeoutError:
                rtts.append(30.0)
            await asyncio.sleep(PROBE_EVERY)

    # phases ---------------------------------------------------------------------------------

    async def phase(
        self,
        streams: list[SseStream],
        pool: Pool,
        mode: str,
        rate: float,
        make_item: Callable[[], Item],
    ) -> dict[str, Any]:
        p, loop = self.params, asyncio.get_running_loop()
        duration = p["duration"]
        for stream in streams:
            stream.recs = []
        created: dict[int, Created] = {}
        post_rtts: list[float] = []
        errors = [0]
        token = self.accounts["sender_token"]
        per_send = 1 if mode == "single" else max(1, round(rate * BATCH_TICK))
        sends_per_s = rate / per_send
        total_sends = max(1, int(duration * sends_per_s))

        def timed(answer: Callable[[int, bytes], None]) -> Callable[[int, bytes, float], None]:
            def done(status: int, body: bytes, sent: float) -> None:
                post_rtts.append(time.time() - sent)
                answer(status, body)

            return done

        await pool.ensure()
        open_before = sum(1 for s in streams if not s.closed)
        rtts: list[float] = []
        stop_probe = asyncio.Event()
        probe = loop.create_task(self.probe_loop(rtts, stop_probe))
        metrics_before = await self.scrape_metrics()
        ids0 = self.progress.ids
        c0, g0, w0 = self.server.cpu(), own_cpu(), time.time()
        q0, own_q0 = self.server.waited(), waited()
        t0 = loop.time()
        sent = overflow = 0
        while sent < total_sends:
            due = min(total_sends, int((loop.time() - t0) * sends_per_s) + 1)
            while sent < due:
                if len(pool.queue) >= QUEUE_CAP:  # the server is not keeping up: skip, counted
                    overflow += 1
                elif mode == "single":
                    prefix, recipient = make_item()
                    body = stamp(prefix, time.time_ns())
                    done = timed(recording(created, errors, [recipient], batch=False))
                    pool.submit(post_request(NOTIFY, token, body), done)
                else:
                    items = [make_item() for _ in range(per_send)]
                    body = batch_body([i[0] for i in items], time.time_ns())
                    done = timed(recording(created, errors, [i[1] for i in items], batch=True))
                    pool.submit(post_request(NOTIFY + "/batch", token, body), done)
                sent += 1
            # At least a millisecond (the loop's timer resolution): a shorter sleep spins.
            await asyncio.sleep(max(0.001, t0 + sent / sends_per_s - loop.time()))
        send_end = time.time()
        g_send, c_send = own_cpu(), self.server.cpu()
        unsent = pool.drop_queued() + overflow
        deadline = time.time() + p["drain_max"]
        while pool.in_flight > 0 and time.time() < deadline:
            await asyncio.sleep(0.01)
        expected = sum(open_before if c.recipient is None else 1 for c in created.values())
        drained = await self.drain(ids0 + expected, send_end)
        c1, g1, w1 = self.server.cpu(), own_cpu(), time.time()
        q1, own_q1 = self.server.waited(), waited()
        stop_probe.set()
        await probe
        metrics_after = await self.scrape_metrics()
        result: dict[str, Any] = {
            "mode": mode,
            "rate": rate,
            "duration": round(send_end - w0, 3),
            "created": len(created),
            "created_per_s": round(len(created) / (send_end - w0), 1),
            "post_errors": errors[0],
            "unsent": unsent * per_send,
            "post_rtt_p50_ms": ms(percentile(sorted(post_rtts), 0.5)),
            "post_rtt_p99_ms": ms(percentile(sorted(post_rtts), 0.99)),
            "streams": open_before,
            "streams_closed": sum(1 for s in streams if s.closed),
            "expected": expected,
            "drained": drained,
            "server_cpu_s": round(c1 - c0, 3),
            "server_cpu_s_send": round(c_send - c0, 3),
            "server_cpu_pct_send": round(100 * (c_send - c0) / (send_end - w0), 1),
            "loadgen_cpu_pct_send": round(100 * (g_send - g0) / (send_end - w0), 1),
            "loadgen_cpu_pct": round(100 * (g1 - g0) / (w1 - w0), 1),
            "server_rss_kib": self.server.rss_kib(),
            # Runnable but waiting for the CPU: other work on the machine got in the way.
            "server_cpu_wait_pct": round(100 * (q1 - q0) / (w1 - w0), 1),
            "loadgen_cpu_wait_pct": round(100 * (own_q1 - own_q0) / (w1 - w0), 1),
            "healthz_rtt_p99_ms": ms(percentile(sorted(rtts), 0.99)),
            "healthz_rtt_max_ms": ms(max(rtts, default=None)),
            "metrics_before": metrics_before,
            "metrics_after": metrics_after,
        }
        result.update(analyse(streams, created, w0, send_end))
        result["cpu_ms_per_1000"] = (
            round(1e6 * result["server_cpu_s"] / result["received"], 2)
            if result["received"]
            else None
        )
        log(
            f"{mode} {rate}/s: created {result['created']} ({result['created_per_s']}/s), "
            f"received {result['received']}/{expected}, p50 {result['p50_ms']} ms, "
            f"p99 {result['p99_ms']} ms (from send {result['send_p50_ms']}, "
            f"{result['send_p99_ms']}), {result['deliveries_per_s']} deliveries/s, "
            f"server {result['server_cpu_pct_send']}% cpu, "
            f"loadgen {result['loadgen_cpu_pct_send']}% cpu, drained={drained}"
        )
        return result

    async def drain(self, target: int, send_end: float) -> bool:
        p = self.params
        last, last_change = self.progress.ids, time.time()
        while self.progress.ids < target:
            await asyncio.sleep(0.05)
            now = time.time()
            if self.progress.ids != last:
                last, last_change = self.progress.ids, now
            elif now - last_change > p["stall"] or now - send_end > p["drain_max"]:
                return False
        return True

    async def run_phases(
        self,
        streams: list[SseStream],
        requests: list[bytes],
        make_item: Callable[[], Item],
    ) -> list[dict[str, Any]]:
        pool = Pool(self.port)
        await pool.open(self.params["connections"])
        await self.warm_up(pool, make_item)
        results, saturated = [], set()
        for mode, rate, *only_if_held in self.params["phases"]:
            if mode in saturated:
                results.append({"mode": mode, "rate": rate, "skipped": "saturated at a lower rate"})
                continue
            previous = next((r for r in reversed(results) if r["mode"] == mode), None)
            if only_if_held and previous is not None and not held(previous):
                results.append({"mode": mode, "rate": rate, "skipped": "lower rate not held"})
                continue
            result = await self.phase(streams, pool, mode, rate, make_item)
            results.append(result)
            if not result["drained"] or result["streams_closed"]:
                saturated.add(mode)
                log("not drained: reopening the streams")
                streams = await self.reopen(streams, requests)
            else:
                await asyncio.sleep(0.5)
        pool.close()
        return results

    async def warm_up(self, pool: Pool, make_item: Callable[[], Item]) -> None:
        """A few notifications of each kind before measuring: first-use costs out of the way."""
        token = self.accounts["sender_token"]
        for _ in range(20):
            body = stamp(make_item()[0], time.time_ns())
            status, _, _ = await pool.fetch(post_request(NOTIFY, token, body))
            if status != 201:
                raise RuntimeError(f"POST {NOTIFY} answered {status} while warming up")
        for _ in range(3):
            body = batch_body([make_item()[0] for _ in range(20)], time.time_ns())
            status, _, _ = await pool.fetch(post_request(NOTIFY + "/batch", token, body))
            if status != 201:
                log(f"POST {NOTIFY}/batch answered {status}: batch phases will fail")
        await asyncio.sleep(1.0)

    # scenarios ------------------------------------------------------------------------------

    async def s1(self) -> dict[str, Any]:
        p = self.params
        requests = self.customer_requests(max(p["levels"]))
        for stream in await self.open_streams(requests[:20]):  # warm the server's code paths
            stream.close()
        await asyncio.sleep(1.0)
        b0, tb0 = self.server.cpu(), time.perf_counter()
        await asyncio.sleep(p["idle"])  # what the server spends with no stream at all
        base_idle = round(100 * (self.server.cpu() - b0) / (time.perf_counter() - tb0), 2)
        log(f"S1 0 streams: idle CPU {base_idle} %")
        base_rss = self.server.rss_kib()
        streams: list[SseStream] = []
        rows = []
        for level in p["levels"]:
            batch = requests[len(streams) : level]
            metrics_before = await self.scrape_metrics()
            c0, g0, t0 = self.server.cpu(), own_cpu(), time.perf_counter()
            oq0, own_oq0 = self.server.waited(), waited()
            streams += await self.open_streams(batch, first=len(streams))
            c1, g1, t1 = self.server.cpu(), own_cpu(), time.perf_counter()
            oq1, own_oq1 = self.server.waited(), waited()
            await asyncio.sleep(p["settle"])
            pings0 = sum(s.pings for s in streams)
            i0, gi0, ti0 = self.server.cpu(), own_cpu(), time.perf_counter()
            q0 = self.server.waited()
            await asyncio.sleep(p["idle"])
            i1, gi1, ti1 = self.server.cpu(), own_cpu(), time.perf_counter()
            q1 = self.server.waited()
            rss = self.server.rss_kib()
            row = {
                "streams": level,
                "open_s": round(t1 - t0, 3),
                "opened_per_s": round(len(batch) / (t1 - t0), 1),
                "accept_cpu_ms": round(1000 * (c1 - c0) / len(batch), 3),
                "idle_cpu_pct": round(100 * (i1 - i0) / (ti1 - ti0), 2),
                "idle_s": round(ti1 - ti0, 2),
                "pings_per_stream": round((sum(s.pings for s in streams) - pings0) / level, 2),
                "rss_kib": rss,
                "base_rss_kib": base_rss,
                "kib_per_stream": round((rss - base_rss) / level, 2),
                "streams_closed": sum(1 for s in streams if s.closed),
                "loadgen_cpu_pct_open": round(100 * (g1 - g0) / (t1 - t0), 1),
                "loadgen_cpu_pct_idle": round(100 * (gi1 - gi0) / (ti1 - ti0), 2),
                "server_cpu_wait_pct_open": round(100 * (oq1 - oq0) / (t1 - t0), 1),
                "loadgen_cpu_wait_pct_open": round(100 * (own_oq1 - own_oq0) / (t1 - t0), 1),
                "server_cpu_wait_pct_idle": round(100 * (q1 - q0) / (ti1 - ti0), 2),
                "metrics_before": metrics_before,
                "metrics_after": await self.scrape_metrics(),
            }
            log(f"S1 {level}: { {k: v for k, v in row.items() if 'metrics' not in k} }")
            rows.append(row)
        return {"levels": rows, "base_idle_cpu_pct": base_idle}

    async def s2(self) -> dict[str, Any]:
        requests = self.admin_requests(self.params["streams"])
        streams = await self.open_streams(requests)
        make_item = salon_item(self.accounts["salon_id"])
        return {"phases": await self.run_phases(streams, requests, make_item)}

    async def s3(self) -> dict[str, Any]:
        requests = self.customer_requests(self.params["streams"])
        streams = await self.open_streams(requests)
        ids = [uid for uid, _ in self.accounts["customers"][: len(streams)]]
        return {"phases": await self.run_phases(streams, requests, customer_items(ids))}

    async def run(self) -> dict[str, Any]:
        await self.probe.open(1)
        scenarios = {
            "S1": self.s1,
            "S2": self.s2,
            "S3": self.s3,
            "S4": lambda: s4(self),
            "S5": lambda: s5(self),
        }
        g0, t0 = own_cpu(), time.perf_counter()
        result = await scenarios[self.spec["scenario"]]()
        result["loadgen_cpu_pct_overall"] = round(
            100 * (own_cpu() - g0) / (time.perf_counter() - t0), 1
        )
        return result


def main() -> None:
    spec_path, out_path = sys.argv[1], sys.argv[2]
    with open(spec_path) as f:
        spec = json.load(f)
    raise_open_files_limit()
    # Millions of receipt records would make the collector's full passes stall this process
    # for hundreds of milliseconds, which would read as latency; nothing here makes cycles.
    gc.disable()
    result = uvloop.run(LoadGen(spec).run())
    with open(out_path, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
