"""`cnai serve` as a real process: --workers 2 on one port, each worker loading the model once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.fixtures.servers import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_serve_with_two_workers(model_dirs: dict[str, Path], tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    cmd = [sys.executable, "-m", "cnai.cli.main", "serve", f"lr={model_dirs['lr']}", "--port", str(port),
           "--workers", "2", "--home", str(tmp_path), "--log-level", "info"]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=os.environ.copy()
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            try:
                if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        row = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [0.1, 0.2, 0.3, 0.4]}]}
        with httpx.Client(base_url=url) as client:
            codes = {client.post("/v2/models/lr/infer", json=row).status_code for _ in range(20)}
        assert codes == {200}
        # Wait until both workers report their model loaded (each loads it once).
        while log.read_text().count("loaded model lr") < 2:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.25)
        assert log.read_text().count("loaded model lr") == 2
        # A scrape reaches one worker but counts both: every scrape sees all 20 requests.
        for _ in range(6):
            with httpx.Client(base_url=url) as scraper:  # a new connection: any worker may answer
                text = scraper.get("/metrics").text
            counted = sum(
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith("cnai_serving_requests_total{") and 'model="lr"' in line
            )
            assert counted == 20, text
            assert "cnai_serving_models_loaded 2.0" in text
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
