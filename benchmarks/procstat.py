"""A process's CPU and memory from /proc, and the load generator's own CPU."""

from __future__ import annotations

import os
import resource

CLK_TCK = os.sysconf("SC_CLK_TCK")


class ProcStat:
    def __init__(self, pid: int) -> None:
        self.pid = pid

    def cpu(self) -> float:
        """utime + stime in seconds (/proc/PID/stat fields 14 and 15)."""
        with open(f"/proc/{self.pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def waited(self) -> float:
        """Seconds spent runnable but waiting for a CPU (/proc/PID/schedstat): how much the
        machine's other work got in the way."""
        return waited(self.pid)

    def rss_kib(self) -> int:
        with open(f"/proc/{self.pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError(f"no VmRSS for process {self.pid}")


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def raise_open_files_limit() -> int:
    """Soft limit up to the hard one (children inherit it); returns the new soft limit."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def waited(pid: int | str = "self") -> float:
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[1]) / 1e9
