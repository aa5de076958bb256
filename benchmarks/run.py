"""Run the benchmark of issues 6 and 13: `python -m benchmarks.run [--quick]
[--scenarios S1,S2,S3,S4,S5] [--db sqlite,postgres] [--broker memory,redis]
[--stack uvicorn,uvicorn-asgi,granian] [--out benchmarks/results/latest.json]`.

For each scenario: the naive baseline once (S1-S3), then the product on every server stack x
database x broker; each on a fresh server pinned to core 0 (and a fresh database), driven
by the load generator pinned to core 1. S5 runs 1, 2 and 4 instances on one PostgreSQL
database with redis:// (whatever --db and --broker say). Prints the tables and the
targets, writes every figure as JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.cluster import Cluster
from benchmarks.procstat import raise_open_files_limit
from benchmarks.profiles import Profiler
from benchmarks.render import render
from benchmarks.scenarios import FULL, QUICK, QUICK_SCENARIOS, SCENARIOS, accounts_needed
from benchmarks.servers import LOADGEN_CORE, STACKS, Server

ROOT = Path(__file__).resolve().parent.parent


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in subprocess.run(
                ["lscpu"], capture_output=True, text=True
            ).stdout.splitlines()
            if line.startswith("Model name")
        ),
        "?",
    )
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    )
    dirty = subprocess.run(
        ["git", "status", "--short", "--", "app"], capture_output=True, text=True, cwd=ROOT
    ).stdout.splitlines()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": f"{head.stdout.strip() or '?'} with {len(dirty)} uncommitted changes in app/",
        "nproc": int(subprocess.run(["nproc"], capture_output=True, text=True).stdout),
        "cpu_model": model,
        "memory_gib": round(mem_kib / 2**20, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "loadavg_before": load,
    }


def run_one(
    scenario: str,
    params: dict[str, Any],
    server: Server,
    workdir: Path,
    profile_dir: Path | None = None,
) -> dict[str, Any]:
    log(f"{scenario} on {server.label}: starting the server")
    server.start()
    profiler = None
    if profile_dir is not None:
        profile_dir.mkdir(parents=True, exist_ok=True)
        profiler = Profiler(server.pid, profile_dir / f"{scenario}-{server.label}.txt")
    try:
        spec = {
            "target": server.target,
            "port": server.port,
            "server_pid": server.pid,
            "accounts": server.accounts.as_json() if server.accounts else {},
        }
        log(f"{scenario} on {server.label}: load generator on core {LOADGEN_CORE}")
        result = drive(scenario, params, spec, workdir)
    except (subprocess.CalledProcessError, RuntimeError) as exc:
        log(f"{scenario} on {server.label} failed: {exc}")
        result = {"error": str(exc)}
    finally:
        if profiler is not None:
            summary = profiler.stop()
            (profiler.out.with_suffix(".summary.txt")).write_text(summary + "\n")
            log(f"profile of {scenario} on {server.label}:\n{summary}")
        server.stop()
    if "error" in result and server.log.exists():
        result["server_log_tail"] = server.log.read_text(errors="replace")[-4000:]
    result.update(target=server.target, stack=server.stack, db=server.db_kind, broker=server.broker)
    return result


def drive(
    scenario: str, params: dict[str, Any], spec: dict[str, Any], workdir: Path
) -> dict[str, Any]:
    """Runs the load generator on its core against the server(s) of `spec`; its result."""
    spec = {"scenario": scenario, "params": params, **spec}
    spec_path = workdir / f"spec-{scenario}-{spec['port']}.json"
    out_path = workdir / f"out-{scenario}-{spec['port']}.json"
    spec_path.write_text(json.dumps(spec))
    command = ["taskset", "-c", LOADGEN_CORE, sys.executable, "-m", "benchmarks.loadgen"]
    subprocess.run([*command, str(spec_path), str(out_path)], cwd=ROOT, check=True)
    return json.loads(out_path.read_text())  # type: ignore[no-any-return]


def run_cluster(params: dict[str, Any], writers: int, stack: str, workdir: Path) -> dict[str, Any]:
    """S5 with `writers` instances (and the observer) on one PostgreSQL database."""
    counts = accounts_needed("S5", params)
    cluster = Cluster(writers, workdir, counts, stack, params["ping"], params["cores"])
    log(f"S5 on {cluster.label}: starting {len(cluster.servers)} servers")
    try:
        cluster.start()
        result = drive("S5", params, cluster.spec(), workdir)
    except (subprocess.CalledProcessError, RuntimeError) as exc:
        log(f"S5 on {cluster.label} failed: {exc}")
        result = {"error": str(exc)}
    finally:
        cluster.stop()
    return {**result, "target": "product", "stack": stack, "db": "postgres", "broker": "redis"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts, about a minute")
    parser.add_argument("--scenarios", help=f"default {SCENARIOS} (--quick: {QUICK_SCENARIOS})")
    parser.add_argument("--db", help="sqlite,postgres (--quick: sqlite)")
    parser.add_argument("--broker", help="memory,redis (--quick: memory)")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive baseline")
    parser.add_argument(
        "--stack",
        default="uvicorn",
        help=f"server stacks to run the product under, of {','.join(STACKS)} (default: uvicorn)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="run each server N times; tables show medians"
    )
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/latest.json"))
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="record the server with py-spy into DIR (perturbs the figures: not for results)",
    )
    parser.add_argument(
        "--phases",
        help="replace the S2/S3 phases, e.g. single:2000,batch:5000 (each phase is run)",
    )
    parser.add_argument("--duration", type=float, help="seconds per S2-S5 phase")
    parser.add_argument(
        "--writers", help="S5: instance counts, e.g. 1,2,4 (the default; --quick: 1,2)"
    )
    parser.add_argument(
        "--s5-cores",
        help="S5: the CPUs its instances are pinned to, taskset style (default 0, the server "
        f"core; the load generator has core {LOADGEN_CORE})",
    )
    parser.add_argument("--streams", type=int, help="streams S2/S3 open (profiling one path)")
    args = parser.parse_args(argv)
    raise_open_files_limit()
    table = {name: dict(params) for name, params in (QUICK if args.quick else FULL).items()}
    for name in ("S2", "S3"):
        if args.phases:
            table[name]["phases"] = [
                [mode, int(rate)]
                for mode, rate in (p.split(":") for p in args.phases.split(",") if p)
            ]
        if args.streams:
            table[name]["streams"] = args.streams
    for name in ("S2", "S3", "S4", "S5"):
        if args.duration:
            table[name]["duration"] = args.duration
    if args.writers:
        table["S5"]["writers"] = [int(n) for n in args.writers.split(",") if n.strip()]
    if args.s5_cores:
        table["S5"]["cores"] = args.s5_cores
    chosen = args.scenarios or (QUICK_SCENARIOS if args.quick else SCENARIOS)
    scenarios = [s.strip().upper() for s in chosen.split(",") if s.strip()]
    if unknown_scenarios := set(scenarios) - set(table):
        parser.error(f"--scenarios: unknown {','.join(sorted(unknown_scenarios))}")
    db = args.db or ("sqlite" if args.quick else "sqlite,postgres")
    broker = args.broker or ("memory" if args.quick else "memory,redis")
    dbs = [d.strip() for d in db.split(",") if d.strip()]
    brokers = [b.strip() for b in broker.split(",") if b.strip()]
    stacks = [s.strip() for s in args.stack.split(",") if s.strip()]
    if unknown := set(stacks) - set(STACKS):
        parser.error(f"--stack: unknown {','.join(sorted(unknown))}; one of {','.join(STACKS)}")
    report: dict[str, Any] = {"machine": machine(), "quick": args.quick, "params": table}
    report["runs"] = runs = []
    workdir = Path(tempfile.mkdtemp(prefix="salon-bench-"))
    started = time.monotonic()
    try:
        for scenario in scenarios:
            params = table[scenario]
            if scenario == "S5":
                for writers in params["writers"] * max(1, args.repeat):
                    for stack in stacks:
                        result = run_cluster(params, writers, stack, workdir)
                        runs.append({"scenario": scenario, "writers": writers, **result})
                continue
            counts = accounts_needed(scenario, params)
            # The naive server has no REST reads (S4).
            naive = not args.no_naive and scenario in ("S1", "S2", "S3")
            targets = [("naive", "-", "-", "-")] if naive else []
            targets += [
                ("product", db, broker, stack)
                for stack in stacks
                for db in dbs
                for broker in brokers
            ]
            for target, db_kind, broker_kind, stack in targets * max(1, args.repeat):
                server = Server(
                    target, db_kind, broker_kind, params["ping"], workdir, counts, stack
                )
                result = run_one(scenario, params, server, workdir, args.profile)
                runs.append({"scenario": scenario, **result})
    finally:
        report["machine"]["loadavg_after"] = Path("/proc/loadavg").read_text().split()[:3]
        report["elapsed_s"] = round(time.monotonic() - started, 1)
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=1))
        shutil.rmtree(workdir, ignore_errors=True)
    print(render(report))
    log(f"done in {report['elapsed_s']} s; figures in {out}")


if __name__ == "__main__":
    main()
