"""Optional py-spy profile of the server while the load generator runs (`--profile DIR`):
raw folded stacks, and a summary of where the samples were (own time and inclusive)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

PY_SPY = Path(sys.executable).parent / "py-spy"
FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^:]+)(?::\d+)?\)$")


class Profiler:
    """py-spy record on a pid, GIL-holding samples only (what occupies the event loop)."""

    def __init__(self, pid: int, out: Path) -> None:
        self.out = out
        command = [str(PY_SPY), "record", "-p", str(pid), "-f", "raw", "-o", str(out)]
        self.process = subprocess.Popen(
            [*command, "--gil", "--nonblocking", "--nolineno", "-r", "200"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> str:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        return summarize(self.out) if self.out.exists() else "(no profile written)"


def summarize(path: Path, top: int = 25) -> str:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_short(f) for f in stack.split(";")]
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    if not total:
        return "(no samples)"
    lines = [f"{total} samples holding the GIL", "", "own time:"]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    lines += ["", "inclusive (app code):"]
    app = [(f, n) for f, n in inclusive.most_common() if "(app/" in f or "(app." in f]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in app[:top]]
    return "\n".join(lines)


def _short(frame: str) -> str:
    match = FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    file = match["file"]
    for marker in ("site-packages/", "/work/main/"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{match['func']} ({file})"
