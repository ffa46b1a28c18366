"""CPU time and resident memory of a server's whole process tree, read from /proc (Linux)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat(pid: int) -> list[str] | None:
    """The fields after the command name: [0] state, [1] ppid, [11..14] times, [21] rss."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def descendants(root: int) -> list[int]:
    """The root and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the processes, plus what their reaped children used."""
    ticks = 0
    for pid in pids:
        if (fields := _stat(pid)) is not None:
            ticks += sum(int(f) for f in fields[11:15])
    return ticks / TICKS


def tree_cpu_seconds(root: int) -> float:
    return cpu_seconds(descendants(root))


def tree_rss_bytes(root: int) -> int:
    total = 0
    for pid in descendants(root):
        if (fields := _stat(pid)) is not None:
            total += int(fields[21]) * PAGE
    return total


def own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


class PeakRss:
    """Samples the resident memory of a process tree in the background; keeps the peak."""

    def __init__(self, root: int, every: float = 0.25) -> None:
        self.root = root
        self.every = every
        self.peak = 0
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, tree_rss_bytes(self.root))
            await asyncio.sleep(self.every)

    def start(self) -> None:
        self.peak = tree_rss_bytes(self.root)
        self._task = asyncio.create_task(self._sample())

    async def stop(self) -> float:
        """Stops sampling; the peak in MiB."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.peak = max(self.peak, tree_rss_bytes(self.root))
        return self.peak / 2**20
