"""The Monitor spec: defaults, normalisation, and errors that name the field."""

from __future__ import annotations

from typing import Any

import pytest

from cnai.errors import InvalidArgument
from cnai.monitoring.monitor.spec import ALERT_TOPIC, parse_monitor_spec, validate_monitor_spec


def spec(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "target": {"model": {"name": "iris"}},
        "reference": {"file": "/data/ref.csv"},
        "window": {"count": 100},
    }
    base.update(overrides)
    return base


def test_minimal_spec_gets_defaults() -> None:
    out = validate_monitor_spec(spec())
    assert out == {
        "target": {"model": {"name": "iris"}},
        "reference": {"file": "/data/ref.csv"},
        "window": {"count": 100},
        "tests": {"columns": {}, "categorical": [], "numerical": [], "driftShareThreshold": 0.5},
        "actions": [],
        "cooldownSeconds": 3600.0,  # one incident fires each action once an hour
    }
    # Normalising is idempotent: what the store keeps validates to itself.
    assert validate_monitor_spec(out) == out


def test_full_spec_round_trips_in_camel_case() -> None:
    full = spec(
        target={"deployment": "iris-prod"},
        reference={"modelVersion": "models:/iris/3", "artifactPath": "data/ref.parquet"},
        features=["a", "b"],
        window={"seconds": 60, "minRows": 30},
        tests={
            "method": "psi",
            "columns": {"a": {"method": "ks", "threshold": 0.01}},
            "categorical": ["b"],
            "driftShareThreshold": 0.3,
            "performance": {"task": "classification", "thresholds": {"accuracy": 0.9}, "minLabels": 20},
        },
        actions=[
            {
                "webhook": {
                    "url": "https://hooks.example/x",
                    "headers": {"Authorization": {"secretEnv": "CNAI_SECRET_T"}},
                }
            },
            {"alert": None},
            {"command": {"argv": ["python", "retrain.py"], "timeoutSeconds": 600}},
        ],
    )
    out = validate_monitor_spec(full)
    assert out["target"] == {"deployment": {"name": "iris-prod"}}
    assert out["window"] == {"seconds": 60.0, "minRows": 30}
    assert out["tests"]["performance"]["minLabels"] == 20
    assert out["actions"][0]["webhook"]["maxRetries"] == 5
    assert out["actions"][0]["webhook"]["timeoutSeconds"] == 10.0
    assert out["actions"][1] == {"alert": {"topic": ALERT_TOPIC, "maxRetries": 5, "backoffSeconds": 1.0}}
    assert out["actions"][2]["command"]["maxRetries"] == 0
    parsed = parse_monitor_spec(out)
    assert [a.kind for a in parsed.actions] == ["webhook", "alert", "command"]
    assert parsed.reference.model_uri_parts() == ("iris", "3", None)


def test_target_matches_model_and_optional_version() -> None:
    any_version = parse_monitor_spec(spec()).target
    assert any_version.matches("iris", "7")
    assert not any_version.matches("wine", "7")
    pinned = parse_monitor_spec(spec(target={"model": {"name": "iris", "version": 2}})).target
    assert pinned.matches("iris", "2")
    assert not pinned.matches("iris", "3")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"window": {}}, "window: set exactly one of count or seconds"),
        ({"window": {"count": 10, "seconds": 5}}, "window: set exactly one of count or seconds (got count, seconds)"),
        ({"window": {"count": 0}}, "window.count: Input should be greater than or equal to 2"),
        ({"window": {"count": 10, "minRows": 3}}, "minRows applies to time windows"),
        ({"target": {}}, "target: set exactly one of model or deployment"),
        ({"target": {"model": {"name": "a"}, "deployment": {"name": "b"}}}, "target: set exactly one"),
        ({"reference": {"file": "/x.json"}}, "must be a CSV or Parquet file"),
        ({"reference": {"file": "/x.csv", "run": "abc"}}, "reference: set exactly one of file or run or modelVersion"),
        ({"reference": {"modelVersion": "iris/1"}}, "modelVersion must look like models:/<name>/<version>"),
        ({"reference": {"file": "/x.csv", "artifactPath": "r.csv"}}, "artifactPath applies to run"),
        ({"features": ["a", "a"]}, "features: duplicate feature(s): a"),
        ({"tests": {"method": "nope"}}, "tests.method: Unknown drift test 'nope'"),
        ({"tests": {"driftShareThreshold": 0}}, "tests.driftShareThreshold: Input should be greater than 0"),
        ({"tests": {"categorical": ["a"], "numerical": ["a"]}}, "both categorical and numerical: a"),
        ({"features": ["a"], "tests": {"columns": {"b": {"method": "ks"}}}}, "tests name column(s) not in features: b"),
        (
            {"tests": {"performance": {"task": "regression", "thresholds": {"accuracy": 0.9}}}},
            "threshold 'accuracy' does not apply to regression; use mae, rmse",
        ),
        (
            {"tests": {"performance": {"task": "classification", "thresholds": {"f1": 1.5}}}},
            "threshold f1=1.5 is out of range",
        ),
        ({"actions": [{}]}, "actions.0: set exactly one of webhook or alert or command"),
        ({"actions": [{"webhook": {"url": "ftp://x"}}]}, "actions.0.webhook.url: String should match pattern"),
        ({"actions": [{"webhook": {"url": "http://x", "headers": {"Idempotency-Key": "k"}}}]}, "is set by cnai"),
        ({"actions": [{"alert": {"topic": "bad topic"}}]}, "actions.0.alert.topic: Invalid topic name"),
        ({"actions": [{"command": {"argv": []}}]}, "actions.0.command.argv: List should have at least 1 item"),
        ({"windw": {"count": 3}}, "windw: unknown field"),
    ],
)
def test_bad_specs_name_the_field(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        validate_monitor_spec(spec(**overrides))
    assert message in info.value.message
    assert info.value.message.startswith("Invalid Monitor spec: ")


def test_missing_required_fields_are_listed_together() -> None:
    with pytest.raises(InvalidArgument, match=r"target: Field required; window: Field required"):
        validate_monitor_spec({})


def test_a_reference_is_required_unless_the_monitor_checks_its_service() -> None:
    no_reference = {k: v for k, v in spec().items() if k != "reference"}
    with pytest.raises(InvalidArgument, match="reference is required for drift tests"):
        validate_monitor_spec(no_reference)
    with pytest.raises(InvalidArgument, match="features name reference columns"):
        validate_monitor_spec({**no_reference, "features": ["a"], "tests": {"service": {}}})
    out = validate_monitor_spec(
        {**no_reference, "tests": {"service": {"minRequests": 5, "thresholds": {"errorRate": 0.1, "ttftP95Ms": 500}}}}
    )
    assert out["tests"]["service"] == {"minRequests": 5, "thresholds": {"errorRate": 0.1, "ttftP95Ms": 500}}
    assert "reference" not in out
    assert validate_monitor_spec(out) == out


@pytest.mark.parametrize(
    ("thresholds", "message"),
    [
        ({"p95": 1.0}, "unknown service metric 'p95'"),
        ({"errorRate": 1.5}, "errorRate=1.5 is out of range"),
        ({"latencyP95Ms": -1}, "out of range"),
    ],
)
def test_service_thresholds_are_checked(thresholds: dict[str, float], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        validate_monitor_spec(spec(tests={"service": {"thresholds": thresholds}}))


def test_spec_must_be_a_mapping() -> None:
    with pytest.raises(InvalidArgument, match="must be a mapping"):
        validate_monitor_spec(["nope"])  # type: ignore[arg-type]
