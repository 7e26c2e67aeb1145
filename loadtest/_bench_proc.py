"""Server processes for the benchmark: start one, learn its port, measure its CPU, stop it.

CPU is read from ``/proc``: the utime + stime of a process and of every
descendant (a prefork node's workers are children of its supervisor), plus
the CPU of descendants already reaped (cutime + cstime), in seconds; and the
whole machine's busy time, so CPU taken by processes outside the benchmark
(a shared machine) shows.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import threading
import time
from collections import defaultdict
from pathlib import Path

READY = re.compile(r"gRPC listening on (?:\[[^\]]+\]|[^ :]+):(\d+)")
_TICK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int | str) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rpartition(")")[2].split()


def tree_pids(root: int) -> list[int]:
    """``root`` and its live descendants."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat_fields(entry.name)
            if fields is not None:
                children[int(fields[1])].append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def tree_cpu_by_pid(root: int) -> dict[int, float]:
    """CPU seconds used so far by ``root`` and each descendant (each with its reaped children)."""
    out = {}
    for pid in tree_pids(root):
        fields = _stat_fields(pid)
        if fields is not None:
            out[pid] = sum(int(fields[i]) for i in (11, 12, 13, 14)) / _TICK
    return out


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds used so far by ``root`` and its descendants, live and reaped."""
    return sum(tree_cpu_by_pid(root).values())


def system_busy_seconds() -> float:
    """CPU seconds every core of the machine spent busy so far (``/proc/stat``), steal time
    included: time the hypervisor gave to another guest was not ours either."""
    with open("/proc/stat") as fh:
        fields = [int(x) for x in fh.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / _TICK


class Server:
    """A server subprocess that prints ``gRPC listening on HOST:PORT`` once it serves (or another
    line: ``ready``, a pattern whose first group is the port).

    Its output is kept (the last lines) for error messages; a reader thread
    drains the pipe so the server never blocks on a full one.
    """

    def __init__(
        self, name: str, args: list[str], env: dict[str, str] | None = None, ready: re.Pattern[str] = READY
    ) -> None:
        self.name = name
        self.ready = ready
        self.args = args
        self.env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.lines: list[str] = []
        self._reader: threading.Thread | None = None

    def start(self, timeout: float = 180.0) -> Server:
        """Start and wait for the listening line.

        Raises:
            RuntimeError: the process exited or stayed silent; the message
            holds its last output lines.
        """
        self.proc = subprocess.Popen(
            self.args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self.env
        )
        found = threading.Event()

        def read() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.lines.append(line.rstrip("\n"))
                del self.lines[:-50]
                match = self.ready.search(line)
                if match and not found.is_set():
                    self.port = int(match.group(1))
                    found.set()

        self._reader = threading.Thread(target=read, name=f"bench-{self.name}-output", daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while not found.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self._reader.join(2)
                code = self.proc.poll()
                self.stop()
                what = f"exited with status {code}" if code is not None else f"did not serve within {timeout:g} s"
                raise RuntimeError(f"{self.name} {what}: " + " | ".join(self.lines[-8:]))
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.pid) if self.proc is not None else 0.0

    def cpu_by_pid(self) -> dict[int, float]:
        return tree_cpu_by_pid(self.pid) if self.proc is not None else {}

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, wait, SIGKILL the process (and any descendant left) if it lingers."""
        if self.proc is None:
            return None
        # Descendants with their start times, so only these very processes are killed below.
        started = {pid: fields[19] for pid in tree_pids(self.proc.pid)[1:] if (fields := _stat_fields(pid))}
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid, start in started.items():  # workers of a supervisor that died before stopping them
            fields = _stat_fields(pid)
            if fields is not None and fields[19] == start and fields[0] != "Z":
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        if self._reader is not None:
            self._reader.join(2)
        code = self.proc.returncode
        self.proc = None
        return code
