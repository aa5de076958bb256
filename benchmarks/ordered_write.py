"""The ordered write's own ceiling, with no Python in the way (issue 13, "Beyond one machine").

Every instance writes notifications under one PostgreSQL advisory lock, held from the
first id drawn to the commit, so ids commit in order across instances. This runs the
app's own statement (`INSERT_LOCKED`, rows as literal arrays) from pgbench, a C client, as
N writer processes each keeping one transaction in flight (an instance's writer never has
two), for groups of 1 and of 100 rows, with and without the lock. What it shows: how many
transactions (groups) and notifications per second the lock lets through, whatever the
instances' own speed, and what the lock costs against the same insert unlocked.

    python -m benchmarks.ordered_write [--clients 1,2,4,8] [--groups 1,100] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import asyncpg

from app.db.repositories.notifications import INSERT_LOCKED
from app.services.writer import NOTIFICATION_WRITE_LOCK
from benchmarks.setup_db import Database

PGBENCH = shutil.which("pgbench") or "/usr/lib/postgresql/15/bin/pgbench"
# One row, as the benchmark's POSTs make them (sizes like a booking notification).
ROW: dict[str, str] = {
    "notification_type": "'booking_created'",
    "title": "'New booking'",
    "message": "'Anna booked a haircut for Friday 10:00'",
    "recipient_type": "'salon'",
    "recipient_id": "1",
    "salon_id": "1",
    "entity_type": "'appointment'",
    "entity_id": "42",
    "priority": "'normal'",
    "extra_data": "'{\"sent_ns\": 1}'",
}
PG_TEST_FSYNC = shutil.which("pg_test_fsync") or "/usr/lib/postgresql/15/bin/pg_test_fsync"
FDATASYNC = re.compile(r"^\s+fdatasync\s+([0-9.]+) ops/sec\s+(\d+) usecs/op", re.M)
TPS = re.compile(r"^tps = ([0-9.]+) \(without initial connection time\)", re.M)
LATENCY = re.compile(r"^latency average = ([0-9.]+) ms", re.M)


def script(group: int, locked: bool) -> str:
    """The app's statement for `group` rows, its parameters spelled out for pgbench."""
    sql = str(INSERT_LOCKED)
    if not locked:
        sql = sql.replace("pg_advisory_xact_lock(:lock)", "1")
    values = {name: f"ARRAY[{', '.join([v] * group)}]" for name, v in ROW.items()}
    values |= {"lock": str(NOTIFICATION_WRITE_LOCK), "created_at": "now()"}
    return re.sub(r":(\w+)", lambda m: values[m.group(1)], sql) + ";\n"


def run_pgbench(url: str, sql: str, clients: int, seconds: float) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as file:
        file.write(sql)
        file.flush()
        command = [PGBENCH, "-n", "-M", "prepared", "-f", file.name, "-c", str(clients)]
        command += ["-j", str(clients), "-T", str(int(seconds)), url]
        out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    if out.returncode != 0:
        raise RuntimeError(f"pgbench failed: {out.stderr.strip()}")
    tps, latency = TPS.search(out.stdout), LATENCY.search(out.stdout)
    if tps is None or latency is None:
        raise RuntimeError(f"pgbench said nothing readable: {out.stdout}")
    return {"tps": float(tps.group(1)), "latency_ms": float(latency.group(1))}


def flush_cost() -> str:
    """What one 8 kB fdatasync costs on this disk (pg_test_fsync, in a temporary directory):
    with the lock held to the commit, it bounds the transactions per second."""
    with tempfile.TemporaryDirectory() as directory:
        command = [str(PG_TEST_FSYNC), "-s", "2", "-f", f"{directory}/probe"]
        out = subprocess.run(command, capture_output=True, text=True, timeout=120)
    found = FDATASYNC.search(out.stdout)
    return f"{found.group(2)} µs per fdatasync" if found else "fdatasync not measured"


async def settings(url: str, then: str = "") -> dict[str, str]:
    """The server's durability settings (and, after reading them, run `then`)."""
    connection = await asyncpg.connect(url)
    try:
        names = ("synchronous_commit", "fsync", "wal_sync_method", "server_version")
        found = {name: await connection.fetchval(f"SHOW {name}") for name in names}
        if then:
            await connection.execute(then)
        return found
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="1,2,4,8")
    parser.add_argument("--groups", default="1,100")
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="salon-ordered-"))
    database = Database("postgres", workdir, "ordered")
    database.create()
    url = database.url.replace("postgresql+asyncpg://", "postgresql://")
    rows: list[dict[str, Any]] = []
    try:
        setup = asyncio.run(
            settings(
                url, then="INSERT INTO salons (id, name, created_at) VALUES (1, 'Ordered', now())"
            )
        )
        durability = ", ".join(f"{k}={v}" for k, v in setup.items() if k != "server_version")
        setup["flush"] = flush_cost()
        print(f"PostgreSQL {setup['server_version']}: {durability}; {setup['flush']}")
        print(
            "| writers | rows per transaction | lock | transactions/s | notifications/s |"
            " latency avg ms |"
        )
        print("|---|---|---|---|---|---|")
        for group in (int(g) for g in args.groups.split(",")):
            for clients in (int(c) for c in args.clients.split(",")):
                for locked in (True, False):
                    figures = run_pgbench(url, script(group, locked), clients, args.seconds)
                    row = {"writers": clients, "group": group, "locked": locked, **figures}
                    row["notifications_per_s"] = figures["tps"] * group
                    rows.append(row)
                    print(
                        f"| {clients} | {group} | {'held' if locked else 'none'} |"
                        f" {figures['tps']:,.0f} | {row['notifications_per_s']:,.0f} |"
                        f" {figures['latency_ms']:.2f} |",
                        flush=True,
                    )
            asyncio.run(
                settings(url, then="TRUNCATE notifications CASCADE")
            )  # the next group size starts empty
    finally:
        database.drop()
    if args.out:
        args.out.write_text(json.dumps({"settings": setup, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
