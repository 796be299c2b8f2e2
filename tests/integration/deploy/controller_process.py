"""A deployment controller alone in a process, for the test that kills it with SIGKILL.

python -m tests.integration.deploy.controller_process STORE_URL CNAI_HOME
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from cnai.db.engine import make_engine
from cnai.deploy.controller import DeploymentController
from cnai.deploy.specs import KIND, validate_deployment_spec
from cnai.resources import ResourceStore
from tests.integration.deploy.conftest import FAST, SERVE_ARGS


async def main(store_url: str, home: Path) -> None:
    store = ResourceStore(make_engine(store_url), {KIND: validate_deployment_spec})
    controller = DeploymentController(store, tracking_uri="", home=home, serve_args=SERVE_ARGS, **FAST)  # type: ignore[arg-type]
    await controller.start()
    await asyncio.Event().wait()  # until killed


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
