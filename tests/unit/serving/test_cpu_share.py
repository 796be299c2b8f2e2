"""CpuShare counts other processes' CPU use on this process's cores, not its own."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from cnai.serving.runtimes.cpu_share import CpuShare

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="reads /proc")


def measure(share: CpuShare, seconds: float) -> int:
    time.sleep(seconds)
    return share.threads()


def test_a_process_spinning_on_a_core_takes_a_thread_away() -> None:
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        pytest.skip("needs 2 cores")
    share = CpuShare(cores, window_s=0.5)
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)  # the spinner is running
        share.threads()  # starts a window with the spinner on
        assert measure(share, 0.6) <= len(cores) - 1
        assert share.others >= 0.5
    finally:
        spin.kill()
        spin.wait()


def test_this_process_own_work_is_not_counted() -> None:
    cores = sorted(os.sched_getaffinity(0))
    share = CpuShare(cores, window_s=0.3)
    start = time.monotonic()
    while time.monotonic() - start < 0.4:  # busy in this process
        pass
    threads = share.threads()
    assert 1 <= threads <= len(cores)
    # other processes may be busy on a shared machine, but our own full core is not theirs:
    # what is counted is at most what the rest of the cores could have done
    assert share.others <= len(cores) - 0.5
