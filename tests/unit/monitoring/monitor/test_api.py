"""GET /api/v1/monitors/{name}/windows and /actions: stored results, newest first, paged."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette

from cnai.monitoring.monitor.api import monitor_routes
from cnai.monitoring.monitor.evaluate import WindowVerdict
from cnai.monitoring.monitor.store import Batch, ClosedWindow, MonitorStore, OutboxAction
from tests.unit.monitoring.monitor.conftest import Env


def closed(seq: int, drifted: bool) -> ClosedWindow:
    verdict = WindowVerdict(10, 1000 * seq, 1000 * seq + 999, 1.0 if drifted else 0.0, drifted, {"a": {}}, {})
    actions = [OutboxAction(f"m/{seq}/0", "m", seq, 0, "alert", {"topic": "t"}, {"window": seq})] if drifted else []
    return ClosedWindow("m", seq, 1, verdict, drifted, actions, [])


async def test_windows_and_actions_are_listed_newest_first(env: Env) -> None:
    store = MonitorStore(env.engine)
    store.write_batch("g", Batch(windows=[closed(s, drifted=s == 2) for s in (1, 2, 3)]), now=5)
    store.write_batch("g", Batch(windows=[closed(2, drifted=False)]), now=6)  # stored once: ignored
    transport = httpx.ASGITransport(app=Starlette(routes=monitor_routes(env.engine)))
    async with httpx.AsyncClient(transport=transport, base_url="http://cnai") as client:
        page = (await client.get("/api/v1/monitors/m/windows", params={"limit": 2})).json()
        assert [w["window"] for w in page["windows"]] == [3, 2]
        assert page["windows"][1]["breached"] is True
        assert page["next_before"] == 2
        rest = (await client.get("/api/v1/monitors/m/windows", params={"before": 2})).json()
        assert [w["window"] for w in rest["windows"]] == [1]
        assert "next_before" not in rest
        actions = (await client.get("/api/v1/monitors/m/actions")).json()["actions"]
        assert [(a["key"], a["status"], a["attempts"]) for a in actions] == [("m/2/0", "pending", 0)]
        assert (await client.get("/api/v1/monitors/other/windows")).json() == {"windows": []}
        bad = await client.get("/api/v1/monitors/m/windows", params={"limit": "0"})
        assert bad.status_code == 400
        assert bad.json()["code"] == "INVALID_PARAMETER_VALUE"


async def test_out_of_range_and_non_ascii_numbers_are_refused(env: Env) -> None:
    """Found by the API fuzzer: ``before`` past int64 reached SQLite (OverflowError, 500) and
    ``limit=²`` passed ``str.isdigit`` but not ``int()`` (ValueError, 500)."""
    transport = httpx.ASGITransport(app=Starlette(routes=monitor_routes(env.engine)))
    async with httpx.AsyncClient(transport=transport, base_url="http://cnai") as client:
        for path, params in [
            ("windows", {"before": str(2**63)}),
            ("windows", {"before": str(2**64)}),
            ("windows", {"limit": "²"}),
            ("windows", {"before": "١٢"}),
            ("actions", {"limit": "³"}),
        ]:
            response = await client.get(f"/api/v1/monitors/m/{path}", params=params)
            assert response.status_code == 400, (params, response.text)
            assert response.json()["code"] == "INVALID_PARAMETER_VALUE"
        largest = await client.get("/api/v1/monitors/m/windows", params={"before": str(2**63 - 1)})
        assert largest.status_code == 200
