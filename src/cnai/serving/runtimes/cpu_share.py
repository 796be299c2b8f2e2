"""How many CPU threads an LLM decode step can use without waiting on other processes.

llama.cpp splits every matrix product of a step across its threads, which meet at a barrier after
each operation (hundreds per step). When another process holds one of the cores, the thread that
lost its core holds up all the others at every barrier: on this 2-core machine, a step on 2 threads
beside a compiler took 700 ms instead of 30 (1 thread: 45 ms). On idle cores, 2 threads read a
40-token prompt in half the time of one. So the engine asks, before each step, for the cores the
rest of the machine leaves idle, measured from ``/proc/stat`` (the CPU time of the cores this
process may run on) minus this process's own CPU time, over the last ``window_s`` seconds.

Processes at a positive nice value are not counted while this one runs at nice 0 or below: the
scheduler gives them a sliver of a core beside ours (weight 15 at nice 19 against 1024 at nice 0),
so they do not stall the barrier. Measured: 8 streams beside a nice-19 process spinning on a core,
served at nice -10, 223 tokens/s on 2 threads and 127 on 1.
"""

from __future__ import annotations

import math
import os
import time


class CpuShare:
    """Threads for the next step: all ``cores`` while other processes use under half a core of
    them, one fewer per further core they use, never below one."""

    def __init__(self, cores: list[int], *, window_s: float = 0.25) -> None:
        self.cores = sorted(cores)
        self.window_s = window_s
        self._hz = os.sysconf("SC_CLK_TCK")
        self._names = {f"cpu{c}" for c in self.cores}
        # /proc/stat's second column is the time of processes at a positive nice value
        self._count_niced = os.getpriority(os.PRIO_PROCESS, 0) > 0
        self._last = self._sample()
        self._threads = 1  # until a first window is measured
        self.others = 0.0  # cores busy with other processes, last window

    @property
    def available(self) -> bool:
        return self._last is not None

    def threads(self) -> int:
        """The thread count for a step starting now (re-measured at most once per window)."""
        if self._last is None:
            return 1
        now = time.monotonic()
        if now - self._last[0] >= self.window_s:
            sample = self._sample()
            if sample is not None:
                t0, busy0, own0 = self._last
                t1, busy1, own1 = sample
                self.others = max(0.0, ((busy1 - busy0) - (own1 - own0)) / self._hz / (t1 - t0))
                self._threads = max(1, len(self.cores) - math.floor(self.others + 0.5))
                self._last = sample
        return self._threads

    def _sample(self) -> tuple[float, int, int] | None:
        """(time, busy jiffies of our cores, jiffies this process used); None without /proc."""
        try:
            with open("/proc/stat", "rb") as fh:
                stat = fh.read().decode()
            with open("/proc/self/stat", "rb") as fh:
                own = fh.read().decode()
        except OSError:
            return None
        busy = 0
        for line in stat.splitlines():
            fields = line.split()
            if fields and fields[0] in self._names:
                # user nice system idle iowait irq softirq steal: all but idle and iowait are busy
                values = [int(v) for v in fields[1:9]]
                busy += sum(values) - values[3] - values[4]
                if not self._count_niced:
                    busy -= values[1]
        # after the command name (in parentheses, may hold spaces): utime and stime are fields 14, 15
        rest = own[own.rindex(")") + 2 :].split()
        return time.monotonic(), busy, int(rest[11]) + int(rest[12])
