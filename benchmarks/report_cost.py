"""Tables of issue 13, a notification's cost as a user feels it: S3's single-POST rate
sweep (latency from send), S4 (one client's cost, REST reads), S5 (the write ceiling with
N instances, the cost of filtering), and the issue's goals against what was measured."""

from __future__ import annotations

from typing import Any

from benchmarks.report import Run, by_scenario, held, label, loadgen_pct, phase_of, table


def per_post_ms(phase: Run) -> float | None:
    """Server CPU per notification created in an open-loop phase: over the sending window
    (runs from before it was recorded: sending and draining)."""
    cpu = phase["server_cpu_s_send"] if "server_cpu_s_send" in phase else phase["server_cpu_s"]
    return round(1000 * cpu / phase["created"], 3) if phase["created"] else None


def sweep_section(runs: list[Run]) -> str:
    rows = []
    for run in runs:
        for p in run.get("phases", []):
            if p["mode"] != "single" or "skipped" in p:
                continue
            rows.append(
                [
                    label(run),
                    p["rate"],
                    p["created_per_s"],
                    p.get("send_p50_ms"),
                    p.get("send_p99_ms"),
                    p["p50_ms"],
                    p["p99_ms"],
                    p.get("post_rtt_p50_ms"),
                    p["post_rtt_p99_ms"],
                    p.get("server_cpu_pct_send"),
                    per_post_ms(p),
                    p["lost"],
                    loadgen_pct(p, "loadgen_cpu_pct_send"),
                    "yes" if held(p) else "no",
                ]
            )
    head = [
        "server",
        "asked/s",
        "achieved/s",
        "p50 ms from send",
        "p99 ms from send",
        "p50 ms from created_at",
        "p99 ms from created_at",
        "POST round trip p50 ms",
        "POST round trip p99 ms",
        "server CPU %",
        "server CPU ms/POST",
        "lost",
        "loadgen CPU %",
        "held",
    ]
    return "## S3 single-POST rate sweep (latency to the stream)\n\n" + table(head, rows)


def s4_section(runs: list[Run], streams: int) -> str:
    posts, reads = [], []
    for run in runs:
        for p in run.get("posts", []):
            posts.append(
                [
                    label(run),
                    p["lanes"],
                    p["per_s"],
                    p["server_cpu_ms_per_request"],
                    p["rtt_p50_ms"],
                    p["rtt_p99_ms"],
                    p["send_p50_ms"],
                    p["send_p99_ms"],
                    p["server_cpu_pct"],
                    p["lost"] + p["duplicates"] + p["misrouted"] + p["errors"],
                    loadgen_pct(p, "loadgen_cpu_pct"),
                    p["server_cpu_wait_pct"],
                ]
            )
        for r in run.get("reads", []):
            reads.append(
                [
                    label(run),
                    f"`{r['path']}`",
                    r["lanes"],
                    r["per_s"],
                    r["server_cpu_ms_per_request"],
                    r["rtt_p50_ms"],
                    r["rtt_p99_ms"],
                    r["server_cpu_pct"],
                    r["errors"],
                    loadgen_pct(r, "loadgen_cpu_pct"),
                    r["server_cpu_wait_pct"],
                ]
            )
    post_head = [
        "server",
        "clients",
        "POSTs/s",
        "server CPU ms/POST",
        "round trip p50 ms",
        "round trip p99 ms",
        "to the stream p50 ms from send",
        "p99 ms from send",
        "server CPU %",
        "lost+dup+wrong+errors",
        "loadgen CPU %",
        "server waited for CPU %",
    ]
    read_head = [
        "server",
        "read (as a customer, 60 notifications)",
        "clients",
        "requests/s",
        "server CPU ms/request",
        "round trip p50 ms",
        "round trip p99 ms",
        "server CPU %",
        "errors",
        "loadgen CPU %",
        "server waited for CPU %",
    ]
    return (
        f"## S4 one client's cost (closed loop; POSTs to {streams:,} customers' open streams)"
        f"\n\n{table(post_head, posts)}\n\n### REST reads\n\n{table(read_head, reads)}"
    )


def s5_section(runs: list[Run]) -> str:
    rows = []
    for run in runs:
        for p in run.get("phases", []):
            rows.append(
                [
                    run["writers"],
                    label(run).split(" x ", 1)[1],
                    "single" if p["mode"] == "single" else f"batch of {p['size']}",
                    p["lanes"],
                    p["notifications_per_s"],
                    p["per_s"],
                    ", ".join(f"{c:.0f}" for c in p["writer_cpu_pct"]),
                    p["writer_cpu_ms_per_notification"],
                    p["rtt_p50_ms"],
                    p["rtt_p99_ms"],
                    p["errors"],
                    p.get("observer_cpu_pct"),
                    p.get("observer_cpu_us_per_notification"),
                    loadgen_pct(p, "loadgen_cpu_pct"),
                    p["server_cpu_wait_pct"],
                ]
            )
    head = [
        "writers",
        "server",
        "requests",
        "clients per writer",
        "notifications/s",
        "requests/s",
        "each writer's CPU %",
        "writers' CPU ms/notification",
        "round trip p50 ms",
        "round trip p99 ms",
        "errors",
        "observer CPU %",
        "observer CPU us/notification (net of idle)",
        "loadgen CPU %",
        "a server waited for CPU % (most)",
    ]
    return "## S5 the ordered write with N instances (one PostgreSQL, redis://)\n\n" + table(
        head, rows
    )


def goals_section(report: dict[str, Any]) -> str:
    """Issue 13's goal table against this run, per server."""
    s1, s2, s3, s4 = (by_scenario(report, s) for s in ("S1", "S2", "S3", "S4"))
    names = sorted({label(r) for r in s1 + s2 + s3 + s4 if r["target"] != "naive"})
    rows = []
    for name in names:
        for what, value, ok in _goals(name, s1, s2, s3, s4):
            rows.append([name, what, value, "n/a" if ok is None else ("met" if ok else "NOT met")])
    if not rows:
        return ""
    return "## Issue 13 goals\n\n" + table(["server", "goal", "measured", ""], rows)


def _within(value: float | None, bound: float) -> bool | None:
    """None when the run has no such figure (runs from before send times were stamped)."""
    return None if value is None else value <= bound


def _find(runs: list[Run], name: str) -> Run | None:
    return next((r for r in runs if label(r) == name), None)


def _goals(name: str, *scenarios: list[Run]) -> list[tuple[str, Any, bool | None]]:
    s1, s2, s3, s4 = (_find(runs, name) for runs in scenarios)
    goals: list[tuple[str, Any, bool | None]] = []
    alone = next((p for p in (s4 or {}).get("posts", []) if p["lanes"] == 1), None)
    if alone:
        cpu, rtt = alone["server_cpu_ms_per_request"], alone["rtt_p50_ms"]
        goals.append(("one client: <= 0.5 ms server CPU per POST", cpu, cpu <= 0.5))
        goals.append(("one client: <= 1.5 ms round trip (p50)", rtt, rtt <= 1.5))
    if s3:
        sustained = [
            p["rate"]
            for p in s3.get("phases", [])
            if p["mode"] == "single" and held(p) and (p.get("send_p99_ms") or 1e9) < 50
        ]
        top = max(sustained, default=None)
        stamped = any("send_p99_ms" in p for p in s3.get("phases", []))
        ok = (top or 0) >= 5000 if stamped else None
        goals.append(("single POSTs >= 5,000/s, p99 < 50 ms from send", top, ok))
        at_1000 = phase_of(s3, "single", 1000)
        if at_1000 and "skipped" not in at_1000:
            p50, cpu = at_1000.get("send_p50_ms"), at_1000.get("server_cpu_pct_send")
            goals.append(("at 1,000/s: p50 <= 2 ms from send", p50, _within(p50, 2)))
            goals.append(("at 1,000/s: server CPU <= 40 %", cpu, _within(cpu, 40)))
    at_50 = phase_of(s2, "single", 50)
    if at_50 and "skipped" not in at_50:
        p99 = at_50.get("send_p99_ms")
        goals.append(("S2 at 50/s: p99 from send <= 20 ms", p99, _within(p99, 20)))
    for read in (s4 or {}).get("reads", []):
        if read["lanes"] == 1 and read["read"] != "healthz":
            cpu = read["server_cpu_ms_per_request"]
            goals.append((f"`{read['path']}`: <= 0.5 ms server CPU", cpu, cpu <= 0.5))
    top_level = (s1 or {}).get("levels", [])[-1:] or None
    if top_level:
        level = top_level[0]
        bound = 0.2 if "redis" in name else 0.15
        accept = level["accept_cpu_ms"]
        goals.append((f"opening a stream: <= {bound} ms CPU", accept, accept <= bound))
        idle = level["idle_cpu_pct"]
        goals.append((f"idle CPU with {level['streams']:,} streams < 1 %", idle, idle < 1))
    return goals
