"""The whole report of a run (Markdown, for the terminal and RESULTS.md) from the JSON
that benchmarks/run.py writes: `python -m benchmarks.render RESULTS.json`."""

from __future__ import annotations

import json
import sys
from typing import Any

from benchmarks.report import by_scenario, label, phases_section, s1_section, targets_section
from benchmarks.report_cost import goals_section, s4_section, s5_section, sweep_section


def machine_section(report: dict[str, Any]) -> str:
    m = report["machine"]
    return (
        f"Run {m['date']}{' (--quick)' if report.get('quick') else ''}: {m['nproc']} cores "
        f"({m['cpu_model']}), {m['memory_gib']} GiB, Python {m['python']}, Linux {m['kernel']}; "
        f"load average before {' '.join(m['loadavg_before'])}, after "
        f"{' '.join(m.get('loadavg_after', []))}; {report.get('elapsed_s')} s in all. "
        f"Code: {m.get('git', '?')}."
    )


def render(report: dict[str, Any]) -> str:
    parts = ["# Benchmark results", machine_section(report)]
    if s1 := by_scenario(report, "S1"):
        parts.append(s1_section(s1))
    params = report.get("params", {})
    if s2 := by_scenario(report, "S2"):
        n = params.get("S2", {}).get("streams", 0)
        title = f"S2 salon broadcast ({n:,} admin streams of one salon)"
        parts.append(phases_section(s2, title, False))
    if s3 := by_scenario(report, "S3"):
        n = params.get("S3", {}).get("streams", 0)
        parts.append(phases_section(s3, f"S3 targeted ({n:,} customer streams)", True))
        parts.append(sweep_section(s3))
    if s4 := by_scenario(report, "S4"):
        parts.append(s4_section(s4, params.get("S4", {}).get("streams", 0)))
    if s5 := by_scenario(report, "S5"):
        parts.append(s5_section(s5))
    parts.append(targets_section(report))
    parts.append(goals_section(report))
    failed = [r for r in report["runs"] if "error" in r]
    if failed:
        parts.append(
            "## Failed runs\n\n"
            + "\n".join(f"- {r['scenario']} on {label(r)}: {r['error']}" for r in failed)
        )
    return "\n\n".join(part for part in parts if part) + "\n"


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        print(render(json.load(f)))
