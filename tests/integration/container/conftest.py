"""Images built once per session from the working tree, with podman (tests/integration/container).

The tags are the test's own (``localhost/cnai:pytest``, ``localhost/cnai-serving:pytest``), so a
developer's ``make image`` tags are never replaced; podman's layer cache makes a rebuild after a
source edit take seconds (dependencies are layers of their own, see the Dockerfile).
"""

from __future__ import annotations

import sys

import pytest

from tests.integration.container.podman import Podman, setup_podman

CONTROL_PLANE_IMAGE = "localhost/cnai:pytest"
SERVING_IMAGE = "localhost/cnai-serving:pytest"


@pytest.fixture(scope="session")
def podman() -> Podman:
    return setup_podman()


@pytest.fixture(scope="session")
def images(podman: Podman) -> dict[str, str]:
    seconds = {
        target: podman.build(target, tag) for target, tag in (("cnai", CONTROL_PLANE_IMAGE), ("serving", SERVING_IMAGE))
    }
    # Reported (not asserted): the image build's share of CI time.
    sys.stderr.write(f"\nimage builds: {', '.join(f'{t} {s:.0f} s' for t, s in seconds.items())}\n")
    return {"cnai": CONTROL_PLANE_IMAGE, "serving": SERVING_IMAGE}
