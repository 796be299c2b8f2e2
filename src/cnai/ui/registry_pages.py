"""A registered model version: where it came from and where it runs.

Backwards: the run and the logged model it was registered from. Forwards: the deployments whose
primary or canary serves it (aliases resolved), the monitors watching those deployments, and
their breached windows and alert deliveries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnai.errors import InvalidArgument, NotFound
from cnai.ui import lineage
from cnai.ui.components import (
    Html,
    esc,
    join,
    lineage_strip,
    link,
    pairs,
    phase_pill,
    pill,
    section,
    short,
    table,
    when,
)
from cnai.ui.layout import HOME, Page
from cnai.ui.pages import model_href

if TYPE_CHECKING:
    from cnai.server.app import ControlPlane

ALERTS = 20


def model_version(plane: ControlPlane, name: str, version: str) -> Page:
    try:
        v = plane.registry.get_version(name, version)
    except InvalidArgument as exc:
        raise NotFound(str(exc)) from None
    number = int(v["version"])
    run_id, model_id = v.get("run_id"), v.get("model_id")
    serving = lineage.deployments_serving(plane, name, number)
    watchers = [(m, d.name) for d, _ in serving for m in lineage.monitors_watching(plane, d.name)]
    watchers += [(m, "-") for m in lineage.monitors_of_model(plane, name, number)]
    strip = lineage_strip(
        [
            link(f"/ui/runs/{run_id}", f"run {run_id[:12]}") if run_id else Html('<span class="muted">no run</span>'),
            link(f"/ui/logged-models/{model_id}", f"logged model {model_id}")
            if model_id
            else Html('<span class="muted">no logged model</span>'),
            Html(f"<b>{esc(name)} v{number}</b>"),
            join((link(f"/ui/deployments/{d.name}", f"deployment {d.name}") for d, _ in serving), ", ")
            or Html('<span class="muted">not deployed</span>'),
            join((link(f"/ui/monitors/{m.name}", f"monitor {m.name}") for m, _ in watchers), ", ")
            or Html('<span class="muted">no monitors</span>'),
        ]
    )
    deployment_rows = [
        [link(f"/ui/deployments/{d.name}", d.name), target, phase_pill(d.status.get("phase")), d.spec.get("model", "")]
        for d, target in serving
    ]
    monitor_rows = []
    alert_rows = []
    if watchers:
        from cnai.monitoring.monitor.store import MonitorStore

        store = MonitorStore(plane.engine)
        for m, deployment in watchers:
            monitor_rows.append(
                [
                    link(f"/ui/monitors/{m.name}", m.name),
                    deployment,
                    phase_pill(m.status.get("phase")),
                    m.status.get("windows", 0),
                    m.status.get("breaches", 0),
                ]
            )
            for a in store.actions(m.name, ALERTS):
                alert_rows.append(
                    [
                        link(f"/ui/monitors/{m.name}", m.name),
                        link(f"/ui/monitors/{m.name}/windows/{a['window']}", f"window {a['window']}"),
                        a["kind"],
                        phase_pill(a["status"]),
                        when(a["updated_at"]),
                    ]
                )
    body = join(
        [
            strip,
            pairs(
                {
                    "status": phase_pill(v["status"]),
                    "aliases": join((pill(f"@{a}", "ok") for a in v.get("aliases", [])), " ") or "-",
                    "created": when(v["creation_timestamp"]),
                    "source": short(v["source"], 200),
                    "description": v.get("description") or "-",
                    **{t["key"]: short(t["value"]) for t in v.get("tags", [])},
                }
            ),
            section("Deployments serving it", table(["deployment", "target", "phase", "spec model"], deployment_rows)),
            section(
                "Monitors watching those deployments",
                table(["monitor", "deployment", "phase", "windows", "breaches"], monitor_rows, numeric=[3, 4]),
            ),
            section("Alerts and actions", table(["monitor", "window", "kind", "status", "updated"], alert_rows)),
        ]
    )
    crumbs = [HOME, ("/#models", "models"), (model_href(name), name)]
    return Page(f"{name} v{number}", body, crumbs)
