"""CpuShare sees another process take a core."""

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
