"""The deployment event log (bounded, restored from the status) and replica ids, the only shape
that ever becomes a replica log's file name."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnai.deploy.events import KEEP, EventLog
from cnai.deploy.replicas import Replica, ReplicaTemplate, replica_id, replica_log_path


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000_000

    def __call__(self) -> int:
        self.now += 1
        return self.now


def test_events_carry_time_type_target_message_and_their_fields() -> None:
    log = EventLog(clock=Clock())
    log.add("ScaledUp", "1 -> 2 replicas", target="primary", **{"from": 1, "to": 2, "skipped": None})
    log.add("CanaryRemoved", "canary removed")
    assert log.export() == [
        {"t": 1_700_000_000_001, "type": "ScaledUp", "target": "primary", "message": "1 -> 2 replicas",
         "from": 1, "to": 2},
        {"t": 1_700_000_000_002, "type": "CanaryRemoved", "message": "canary removed"},
    ]  # fmt: skip


def test_the_log_keeps_the_newest_entries_only() -> None:
    log = EventLog(clock=Clock())
    for i in range(KEEP + 30):
        log.add("ReplicaStarted", f"replica {i}")
    kept = log.export()
    assert len(kept) == KEEP
    assert kept[0]["message"] == "replica 30"
    assert kept[-1]["message"] == f"replica {KEEP + 29}"


def test_a_restart_continues_from_the_well_formed_stored_events() -> None:
    stored: list[object] = [
        {"t": 5, "type": "ReplicaReady", "message": "primary-5001 ready"},
        {"type": "NoTime"},
        "not an event",
        {"t": "6", "type": "BadTime"},
        {"t": 7, "type": "ScaledDown", "message": "2 -> 1"},
    ]
    log = EventLog(stored, keep=3, clock=Clock())
    log.add("ReplicaStopped", "primary-5001 stopped")
    log.add("ReplicaStarted", "primary-5002 started")
    assert [e["type"] for e in log.export()] == ["ScaledDown", "ReplicaStopped", "ReplicaStarted"]
    assert stored[0] == {"t": 5, "type": "ReplicaReady", "message": "primary-5001 ready"}  # not mutated


@pytest.mark.parametrize(
    ("value", "port", "expected"),
    [
        ("primary-5001", None, "primary-5001"),
        ("canary-5001", 5001, "canary-5001"),
        ("primary-5001", 5002, None),  # the recorded port must agree
        ("primary-05001", None, None),
        ("shadow-5001", None, None),
        ("../primary-5001", None, None),
        ("primary-5001/../../x", None, None),
        ("primary-5001.log", None, None),
        ("primary-", None, None),
        (5001, None, None),
        (None, None, None),
    ],
)
def test_replica_ids_have_one_shape(value: object, port: object, expected: str | None) -> None:
    assert replica_id(value, port) == expected


def test_a_promoted_replica_keeps_its_id_and_log(tmp_path: Path) -> None:
    template = ReplicaTemplate("wine", "models:/wine/2", "2")
    replica = Replica("canary", template, "127.0.0.1", 5003, 42, None)
    replica.role = "primary"  # promote moves the replica, not its log file
    assert replica.record()["id"] == "canary-5003"
    assert replica_log_path(tmp_path, "wine", replica.id) == tmp_path / "deployments" / "wine" / "canary-5003.log"
