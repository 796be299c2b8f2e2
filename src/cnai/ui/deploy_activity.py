"""A deployment's replicas, its event timeline and each replica's log, for the deployment page.

The log page reads a file on the control plane's disk, so it is built to let nothing from the
request reach the filesystem: the replica is looked up among those the controller recorded
(``status.processes`` for the live ones, ``status.events`` for those gone, e.g. a crashed one),
its id is re-checked against the one shape ids have (``primary-4711``), and the path is made from
the stored deployment name and that id (:func:`cnai.deploy.replicas.replica_log_path`). Only the
last ``LOG_TAIL_BYTES`` are read, and every line is escaped.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from cnai.deploy.events import WARNINGS
from cnai.deploy.replicas import replica_id, replica_log_path
from cnai.errors import NotFound
from cnai.ui.components import Html, esc, join, link, number, pairs, phase_pill, pill, section, short, table, when
from cnai.ui.layout import HOME, Page

if TYPE_CHECKING:
    from pathlib import Path

    from cnai.resources import Resource
    from cnai.server.app import ControlPlane

LOG_TAIL_BYTES = 64 * 1024
EVENTS_SHOWN = 100
# Events drawn as markers on the traffic charts: the decisions, not every replica's life.
MARKED = frozenset(
    {"ScaledUp", "ScaledDown", "RolloutStarted", "RolloutComplete", "CanaryStarted", "CanaryWeightChanged",
     "CanaryPromoted", "CanaryRolledBack", "CanaryRemoved"}
)  # fmt: skip
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def log_href(deployment: str, ident: str) -> str:
    return f"/ui/deployments/{deployment}/replicas/{ident}/log"


def _record_id(record: dict[str, Any]) -> str | None:
    """The id a recorded replica (a status.processes entry or an event) was started with."""
    port = record.get("port")
    ident = record.get("id", record.get("replica"))
    if ident is None and isinstance(record.get("role"), str):
        ident = f"{record['role']}-{port}"
    return replica_id(ident, port)


def known_replicas(d: Resource) -> dict[str, dict[str, Any]]:
    """Every replica the controller recorded for ``d``, live ones last (their record wins)."""
    found: dict[str, dict[str, Any]] = {}
    for event in d.status.get("events") or []:
        if isinstance(event, dict) and (ident := _record_id(event)):
            found[ident] = {**found.get(ident, {}), **event, "state": _state_after(event)}
    for record in d.status.get("processes") or []:
        if isinstance(record, dict) and (ident := _record_id(record)):
            found[ident] = {**found.get(ident, {}), **record}
    return found


def _state_after(event: dict[str, Any]) -> str:
    return {"ReplicaFailed": "failed", "ReplicaStopped": "stopped", "ReplicaReady": "ready"}.get(
        str(event.get("type")), "starting"
    )


# -- on the deployment page ----------------------------------------------------------------------------


def replicas_section(d: Resource) -> Html:
    """The live replicas with state, pid, port and model, each with a link to its log."""
    rows = []
    for record in d.status.get("processes") or []:
        if not isinstance(record, dict):
            continue
        ident = _record_id(record)
        template = record.get("template")
        template = template if isinstance(template, dict) else {}
        model = template.get("model_uri") or "-"
        version = template.get("version")
        rows.append(
            [
                ident or "-",
                record.get("role"),
                phase_pill(record.get("state")),
                record.get("pid"),
                record.get("port"),
                f"{model} (v{version})" if version else model,
                short(record.get("revision"), 16),
                link(log_href(d.name, ident), "log") if ident else "-",
            ]
        )
    headers = ["replica", "target", "state", "pid", "port", "model", "revision", "log"]
    gone = len(known_replicas(d)) - len(rows)
    earlier = f"{gone} earlier replica" + ("s" if gone > 1 else "")
    note = f"the logs of {earlier} are linked from the events below" if gone > 0 else ""
    return section(
        "Replicas",
        table(headers, rows, empty="no replicas running", numeric=[3, 4]),
        anchor="replicas",
        note=note,
    )


def events_section(d: Resource) -> Html:
    """The timeline: newest first, warnings (failures, rollbacks) highlighted."""
    events = [e for e in d.status.get("events") or [] if isinstance(e, dict)]
    shown = list(reversed(events))[:EVENTS_SHOWN]
    rows = []
    for e in shown:
        kind = str(e.get("type", "-"))
        ident = _record_id(e)
        rows.append(
            [
                when(e.get("t")),
                pill(kind, "bad" if kind in WARNINGS else ""),
                e.get("target") or "-",
                short(e.get("message"), 300),
                link(log_href(d.name, ident), ident) if ident else "-",
            ]
        )
    return section(
        "Events",
        table(["time", "event", "target", "message", "log"], rows, empty="no events yet"),
        anchor="events",
        note="roll-outs, scaling decisions, canary changes and replica lifecycles; newest first",
    )


def chart_marks(d: Resource) -> list[dict[str, Any]]:
    """Scaling, roll-out and canary events as markers for the traffic charts (x in seconds)."""
    marks = []
    for e in d.status.get("events") or []:
        if isinstance(e, dict) and e.get("type") in MARKED and isinstance(e.get("t"), int):
            marks.append({"x": e["t"] / 1000, "label": f"{e['type']}: {e.get('message', '')}"[:200]})
    return marks


# -- the log page ---------------------------------------------------------------------------------


def replica_log(plane: ControlPlane, name: str, ident: str) -> Page:
    d = plane.resources.get("Deployment", name)  # checks the name's shape; 404 when unknown
    record = known_replicas(d).get(ident) if replica_id(ident) else None
    if record is None:
        raise NotFound(f"Deployment {name} has no recorded replica {ident!r}")
    # From here on only stored values make the path: the resource's name and the recorded id.
    stored = _record_id(record)
    if stored is None:  # unreachable: known_replicas keys are such ids; kept so no guess reaches a path
        raise NotFound(f"Deployment {name} has no recorded replica {ident!r}")
    path = replica_log_path(plane.settings.home, d.name, stored)
    text, size = _tail(path)
    info = {
        "deployment": link(f"/ui/deployments/{d.name}", d.name),
        "target": record.get("role") or "-",
        "state": phase_pill(record.get("state")),
        "pid": record.get("pid", "-"),
        "port": record.get("port", "-"),
        "log file": f"deployments/{d.name}/{stored}.log under CNAI_HOME",
        "size": "no log file" if size is None else f"{number(size)} bytes",
    }
    if size is None:
        body: object = Html('<p class="muted">no log file (yet, or it was cleaned up)</p>')
    else:
        shown = "the whole file" if size <= LOG_TAIL_BYTES else f"the last {LOG_TAIL_BYTES // 1024} KiB"
        body = join(
            [
                Html(f'<p class="muted small">{esc(shown)}, oldest first; <a href="">reload</a></p>'),
                Html(f'<pre id="log" class="log">{esc(text) or "(empty)"}</pre>'),
            ]
        )
    crumbs = [HOME, ("/#deployments", "deployments"), (f"/ui/deployments/{d.name}", d.name)]
    return Page(f"{d.name}: {stored} log", join([pairs(info), section("Log", body)]), crumbs)


def _tail(path: Path) -> tuple[str, int | None]:
    """The last ``LOG_TAIL_BYTES`` of ``path`` as text (a cut first line dropped), and its size."""
    try:
        with path.open("rb") as f:
            size = f.seek(0, 2)
            start = max(0, size - LOG_TAIL_BYTES)
            f.seek(start)
            data = f.read(LOG_TAIL_BYTES)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return "", None
    text = data.decode("utf-8", "replace")
    if start > 0 and "\n" in text:
        text = text.split("\n", 1)[1]
    return "\n".join(_as_shown(line) for line in text.split("\n")), size


def _as_shown(line: str) -> str:
    """A line as a terminal ends up showing it: colours dropped, and after a carriage return
    (progress bars redraw themselves with it) only the last redraw."""
    line = _ANSI.sub("", line.rstrip("\r"))
    return _CONTROL.sub("", line.rsplit("\r", 1)[-1])
