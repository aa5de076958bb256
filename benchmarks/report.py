"""Tables of issue 6 (Markdown, for the terminal and RESULTS.md), ratios against the naive
baseline, and the targets of issue 6, from the JSON that benchmarks/run.py writes; the
whole report is put together by benchmarks/render.py."""

from __future__ import annotations

import copy
import statistics
from collections.abc import Iterable
from typing import Any

Run = dict[str, Any]


HELD_P99_MS = 100.0
LOADGEN_BOUND_PCT = 85.0  # over this share of its core, the load generator may be the limit
# Runnable but not running for over this share of the window, the load generator sent late
# and read late (a busy machine): its latencies and skipped sends are not the server's.
LOADGEN_STARVED_PCT = 10.0


def label(run: Run) -> str:
    """The server: naive, or the product's stack, database and broker (runs from before
    the stacks were compared are uvicorn's); S5's with its count of instances."""
    if run["target"] == "naive":
        return "naive"
    name = f"{run.get('stack', 'uvicorn')} {run['db']}+{run['broker']}"
    return f"{run['writers']} x {name}" if "writers" in run else name


def loadgen_pct(row: Run, key: str, waited_key: str = "loadgen_cpu_wait_pct") -> str:
    """The load generator's CPU (`row[key]`), flagged where it may have been the bottleneck:
    busy over 85 % of its core, or kept waiting for a CPU over 10 % of the window."""
    value, waited = row.get(key), row.get(waited_key)
    if value is None:
        return "n/a"
    flags = []
    if value > LOADGEN_BOUND_PCT:
        flags.append("bound?")
    if waited is not None and waited > LOADGEN_STARVED_PCT:
        flags.append(f"starved: waited {waited:.0f} %")
    return f"**{value:.1f} ({', '.join(flags)})**" if flags else f"{value:.1f}"


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1 else f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def ratio(numerator: float | None, denominator: float | None) -> str:
    if not numerator or not denominator:
        return "n/a"
    return f"{numerator / denominator:.1f}x"


def table(head: list[str], rows: Iterable[list[Any]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(fmt(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


LAG = "salon_event_loop_lag_seconds"
LAG_MAX = "salon_event_loop_lag_max_seconds"
PAUSE_MS = 20
GC_MAX = "salon_gc_pause_max_seconds"


def since_start_ms(samples: dict[str, float], name: str = LAG_MAX) -> float | None:
    """A maximum the server keeps since it started (its /metrics gauge), if it has one."""
    return round(1000 * samples[name], 1) if name in samples else None


def window_max(before: dict[str, float], after: dict[str, float], name: str) -> str:
    """The largest full collection within a window: exact when the since-start maximum grew
    in it, else no more than the maximum before it ("<= N")."""
    if name not in after:
        return "n/a"
    was, now = before.get(name, 0.0), after[name]
    return f"{1000 * now:.0f}" if now > was else f"<= {1000 * was:.0f}"


def pause_in(before: dict[str, float], after: dict[str, float]) -> tuple[str, bool | None]:
    """The longest loop pause within a window, and whether it is within 20 ms (None: can't
    tell). Exact when the since-start maximum grew in the window; else bounded by the
    histogram: the smallest bucket that every tick of the window fell in."""
    if LAG_MAX not in after:
        return "n/a", None
    was, now = before.get(LAG_MAX, 0.0), after[LAG_MAX]
    if now > was:
        return f"{1000 * now:.0f}", 1000 * now <= PAUSE_MS
    count = after.get(f"{LAG}_count", 0) - before.get(f"{LAG}_count", 0)
    bounds = sorted(
        float(k.split('le="')[1].rstrip('"}'))
        for k in after
        if k.startswith(f"{LAG}_bucket") and "+Inf" not in k
    )
    for bound in bounds:
        key = f'{LAG}_bucket{{le="{bound}"}}'
        if after.get(key, 0) - before.get(key, 0) >= count:
            limit = min(bound, was)
            return f"<= {1000 * limit:g}", True if 1000 * limit <= PAUSE_MS else None
    return f"<= {1000 * was:g}", None


def lag_over(before: dict[str, float], after: dict[str, float], bound: str = "0.025") -> str:
    """How many 10 ms ticks of the server's loop monitor came more than `bound` s late."""
    count, bucket = f"{LAG}_count", f'{LAG}_bucket{{le="{bound}"}}'
    if count not in after or bucket not in after:
        return "n/a"
    late = (after[count] - before.get(count, 0)) - (after[bucket] - before.get(bucket, 0))
    return f"{late:.0f}"


def loop_lag_ms(samples: dict[str, float]) -> float | None:
    return since_start_ms(samples)


def tail_ms(phase: Run) -> float | None:
    """The p99 a rate is judged by: from the moment the POST was sent (from `created_at`
    in runs from before the load generator stamped the send time)."""
    if "send_p99_ms" in phase:
        return phase["send_p99_ms"]  # type: ignore[no-any-return]
    return phase["p99_ms"]  # type: ignore[no-any-return]


def held(phase: Run) -> bool:
    """Kept up: created what was asked (95 %), nothing lost, p99 from send under 100 ms,
    no errors."""
    if "skipped" in phase:
        return False
    p99 = tail_ms(phase)
    return (
        phase["created_per_s"] >= 0.95 * phase["rate"]
        and phase["lost"] == 0
        and not phase["post_errors"]
        and p99 is not None
        and p99 < HELD_P99_MS
    )


def highest_held(run: Run, mode: str) -> float | None:
    rates = [p["rate"] for p in run.get("phases", []) if p["mode"] == mode and held(p)]
    return max(rates, default=None)


def by_scenario(report: dict[str, Any], scenario: str) -> list[Run]:
    runs = [r for r in report["runs"] if r["scenario"] == scenario and "error" not in r]
    return median_of_repeats(runs)


def median_of_repeats(runs: list[Run]) -> list[Run]:
    """One run per server: with `--repeat N`, each figure is the median of its repeats."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(label(run), []).append(run)
    merged = []
    for repeats in groups.values():
        run = copy.deepcopy(repeats[0])
        run["repeats"] = len(repeats)
        for rows in ("levels", "phases", "posts", "reads"):
            for row in run.get(rows, []):
                same = [
                    other
                    for r in repeats
                    for other in r.get(rows, [])
                    if _row_key(other) == _row_key(row) and "skipped" not in other
                ]
                if "skipped" not in row:
                    _median_into(row, same)
        merged.append(run)
    return merged


def _row_key(row: dict[str, Any]) -> tuple[Any, ...]:
    """What a row of a run measured (a level, a phase, a read), the same in every repeat."""
    if "mode" in row or "lanes" in row:
        return tuple(row.get(k) for k in ("mode", "rate", "size", "lanes", "read"))
    return (row.get("streams"),)  # an S1 level


def _median_into(row: dict[str, Any], repeats: list[dict[str, Any]]) -> None:
    for key, value in row.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            values = [r[key] for r in repeats if isinstance(r.get(key), int | float)]
            if values:
                middle = statistics.median(values)
                whole = all(isinstance(v, int) for v in values) and middle == int(middle)
                row[key] = int(middle) if whole else middle


def naive_of(runs: list[Run]) -> Run | None:
    return next((r for r in runs if r["target"] == "naive"), None)


def phase_of(run: Run | None, mode: str, rate: float) -> Run | None:
    if run is None:
        return None
    return next((p for p in run.get("phases", []) if p["mode"] == mode and p["rate"] == rate), None)


def s1_section(runs: list[Run]) -> str:
    naive = naive_of(runs)
    naive_rows = {row["streams"]: row for row in (naive or {}).get("levels", [])}
    rows = []
    for run in runs:
        if "base_idle_cpu_pct" in run:
            rows.append([label(run), 0, "", "", "", "", "", run["base_idle_cpu_pct"], *[""] * 6])
        for row in run["levels"]:
            base = naive_rows.get(row["streams"], {}) if run is not naive else {}
            rows.append(
                [
                    label(run),
                    row["streams"],
                    row["kib_per_stream"],
                    ratio(base.get("kib_per_stream"), row["kib_per_stream"]),
                    row["open_s"],
                    round(row["accept_cpu_ms"], 3),
                    ratio(base.get("accept_cpu_ms"), row["accept_cpu_ms"]),
                    row["idle_cpu_pct"],
                    row["pings_per_stream"],
                    row["streams_closed"],
                    loadgen_pct(row, "loadgen_cpu_pct_open", "loadgen_cpu_wait_pct_open"),
                    row.get("server_cpu_wait_pct_open"),
                    pause_in(row.get("metrics_before", {}), row.get("metrics_after", {}))[0],
                    window_max(row.get("metrics_before", {}), row.get("metrics_after", {}), GC_MAX),
                ]
            )
    head = [
        "server",
        "streams",
        "KiB/stream",
        "naive/this",
        "open s",
        "accept CPU ms/stream",
        "naive/this",
        "idle CPU % core",
        "pings/stream",
        "closed",
        "loadgen CPU % (opening)",
        "server waited for CPU % (opening)",
        "loop pause max ms (opening + idle)",
        "full GC max ms",
    ]
    return "## S1 idle capacity (customer streams, pings in the idle window)\n\n" + table(
        head, rows
    )


def phases_section(runs: list[Run], title: str, s3: bool) -> str:
    naive = naive_of(runs)
    rows = []
    for run in runs:
        for p in run.get("phases", []):
            if "skipped" in p:
                rows.append([label(run), p["mode"], p["rate"], p["skipped"], *[""] * 16])
                continue
            base = phase_of(naive, p["mode"], p["rate"]) if run is not naive else None
            rows.append(
                [
                    label(run),
                    p["mode"],
                    p["rate"],
                    p["created_per_s"],
                    p["deliveries_per_s"],
                    p.get("send_p50_ms"),
                    p.get("send_p99_ms"),
                    p["p50_ms"],
                    p["p99_ms"],
                    p["lost"] + p["duplicates"] + p["misrouted"],
                    p["cpu_ms_per_1000"] if s3 else p["server_cpu_s"],
                    p.get("server_cpu_pct_send"),
                    ratio(tail_ms(base), tail_ms(p)) if base else "",
                    p["healthz_rtt_max_ms"],
                    pause_in(p.get("metrics_before", {}), p.get("metrics_after", {}))[0],
                    lag_over(p.get("metrics_before", {}), p.get("metrics_after", {})),
                    window_max(p.get("metrics_before", {}), p.get("metrics_after", {}), GC_MAX),
                    loadgen_pct(p, "loadgen_cpu_pct_send"),
                    p.get("server_cpu_wait_pct"),
                    p.get("loadgen_cpu_wait_pct"),
                ]
            )
    head = [
        "server",
        "mode",
        "target/s",
        "created/s",
        "deliveries/s",
        "p50 ms from send",
        "p99 ms from send",
        "p50 ms from created_at",
        "p99 ms from created_at",
        "lost+dup+wrong",
        "server CPU ms/1000 deliveries" if s3 else "server CPU s",
        "server CPU % (sending)",
        "p99 naive/this",
        "healthz max ms",
        "loop pause max ms",
        "ticks > 25 ms late",
        "full GC max ms",
        "loadgen CPU %",
        "server waited for CPU %",
        "loadgen waited for CPU %",
    ]
    out = f"## {title}\n\n" + table(head, rows)
    if s3:
        summary = [[label(r), highest_held(r, "single"), highest_held(r, "batch")] for r in runs]
        out += (
            "\n\nHighest rate held (p99 from send < 100 ms, nothing lost, >= 95 % of the rate "
            "created):\n\n"
        )
        out += table(["server", "single POSTs /s", "batch endpoint /s"], summary)
    return out


def targets_section(report: dict[str, Any]) -> str:
    s1, s2, s3 = (by_scenario(report, s) for s in ("S1", "S2", "S3"))
    labels = sorted({label(r) for r in s1 + s2 + s3 if r["target"] != "naive"})
    rows = []
    for name in labels:

        def find(runs: list[Run], name: str = name) -> Run | None:
            return next((r for r in runs if label(r) == name), None)

        checks = []
        r1 = find(s1)
        top = r1["levels"][-1] if r1 else None
        if top:
            checks += [
                (
                    f"memory/stream at {top['streams']:,} <= 16 KiB",
                    top["kib_per_stream"],
                    top["kib_per_stream"] <= 16,
                ),
                (
                    "accept CPU <= 0.25 ms/stream",
                    top["accept_cpu_ms"],
                    top["accept_cpu_ms"] <= 0.25,
                ),
                (
                    f"idle CPU at {top['streams']:,} < 2 %",
                    top["idle_cpu_pct"],
                    top["idle_cpu_pct"] < 2,
                ),
            ]
        r2 = find(s2)
        p50 = phase_of(r2, "single", 50)
        if p50:
            checks.append(("S2 50/s: p99 < 50 ms", p50["p99_ms"], (p50["p99_ms"] or 1e9) < 50))
            checks.append(
                (
                    "S2 50/s: rate created, nothing lost",
                    p50["lost"],
                    p50["lost"] == 0 and p50["created_per_s"] >= 47.5,
                )
            )
        if r2:
            clean = [p for p in r2["phases"] if "skipped" not in p and p["lost"] == 0]
            best = max((p["deliveries_per_s"] for p in clean), default=0)
            checks.append(("S2 >= 100,000 deliveries/s sustained", best, best >= 100_000))
        r3 = find(s3)
        if r3:
            batch, single = highest_held(r3, "batch"), highest_held(r3, "single")
            checks.append(("S3 5,000/s batch held", batch, (batch or 0) >= 5000))
            checks.append(("S3 >= 2,000/s single POSTs held", single, (single or 0) >= 2000))
        for scenario, r in (("S2", r2), ("S3", r3)):
            phases = [p for p in (r or {}).get("phases", []) if "skipped" not in p]
            if not phases:
                continue
            first, last = phases[0]["metrics_before"], phases[-1]["metrics_after"]
            pause, ok = pause_in(first, last)
            checks.append((f"{scenario}: no loop pause > 20 ms (all its phases)", pause, ok))
        for what, value, ok in checks:
            rows.append([name, what, value, "n/a" if ok is None else ("met" if ok else "NOT met")])
    if not rows:
        return ""
    return "## Targets\n\n" + table(["server", "target", "measured", ""], rows)
