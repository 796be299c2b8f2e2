"""Rollout status read from recorded API objects (what `cnai k8s apply` waits on)."""

from __future__ import annotations

import pytest

from cnai.k8s.apply import apply_stages, wait_for_rollout
from cnai.k8s.rollout import rollout_status
from tests.unit.k8s.recorded import recorded


@pytest.mark.parametrize(
    ("name", "state", "words"),
    [
        ("deployment-progressing", "progressing", "1 of 2 replicas updated"),
        ("deployment-complete", "done", "2 replica(s) up to date"),
        ("deployment-stale", "progressing", "waiting for the controller"),
        ("deployment-deadline-exceeded", "failed", "has timed out progressing"),
        ("inferenceservice-canary-ready", "done", "ready at http://wine.ml.example.com"),
        ("inferenceservice-failed", "failed", "No control plane answers"),
        ("knative-service-rolling", "progressing", "waiting for a Revision"),
        ("knative-service-ready", "done", "ready at http://wine.ml.example.com"),
    ],
)
def test_status_of_recorded_objects(name: str, state: str, words: str) -> None:
    status = rollout_status(recorded(name))
    assert status is not None
    assert status.state == state
    assert words in status.message


def test_old_replicas_still_terminating_is_not_done() -> None:
    obj = recorded("deployment-complete")
    obj["status"]["replicas"] = 3  # a pod of the old ReplicaSet is still there
    status = rollout_status(obj)
    assert status is not None
    assert status.state == "progressing"
    assert "old replica" in status.message


def test_kinds_without_a_rollout_have_no_status() -> None:
    assert rollout_status({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "wine"}}) is None


def test_stable_goes_first_only_when_the_object_is_new() -> None:
    canary, stable = [{"kind": "canary"}], [{"kind": "stable"}]
    assert apply_stages(canary, stable, exists=False) == [stable, canary]
    assert apply_stages(canary, stable, exists=True) == [canary]
    assert apply_stages(canary, None, exists=False) == [canary]


class _Cluster:
    """Answers with a sequence of recorded objects, as the API would over successive GETs."""

    def __init__(self, answers: list[dict[str, object]]) -> None:
        self.answers = answers

    def get(self, ref: object) -> dict[str, object]:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def test_wait_follows_the_rollout_to_done_and_reports_each_change() -> None:
    seen: list[str] = []
    now = [0.0]
    cluster = _Cluster(
        [recorded("deployment-stale"), recorded("deployment-progressing"), recorded("deployment-complete")]
    )
    manifest = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "wine"}}
    final = wait_for_rollout(
        cluster,  # type: ignore[arg-type]
        [manifest],
        timeout_s=60,
        report=lambda s: seen.append(s.state),
        clock=lambda: now[0],
        sleep=lambda s: now.__setitem__(0, now[0] + s),
    )
    assert [s.state for s in final] == ["done"]
    assert seen == ["progressing", "progressing", "done"]


def test_wait_gives_up_at_the_timeout() -> None:
    now = [0.0]
    cluster = _Cluster([recorded("deployment-progressing")])
    manifest = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "wine"}}
    final = wait_for_rollout(
        cluster,  # type: ignore[arg-type]
        [manifest],
        timeout_s=10,
        poll_s=2,
        clock=lambda: now[0],
        sleep=lambda s: now.__setitem__(0, now[0] + s),
    )
    assert final[0].state == "failed"
    assert "timed out after 10 s" in final[0].message
    assert now[0] == 10
