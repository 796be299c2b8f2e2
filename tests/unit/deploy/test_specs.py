"""The Deployment spec: defaults filled in, bad fields named, registry URIs checked."""

from __future__ import annotations

import orjson
import pytest

from cnai.deploy.specs import parse_deployment_spec, validate_deployment_spec
from cnai.errors import InvalidArgument


def test_defaults_are_filled_in_and_keys_are_camel_case() -> None:
    spec = validate_deployment_spec({"model": "models:/wine@champion"})
    assert spec["model"] == "models:/wine@champion"
    assert spec["servedName"] is None
    assert spec["replicas"] == {"min": 1, "max": 3}
    assert spec["autoscaling"] == {
        "targetConcurrency": 10.0,
        "stableWindowSeconds": 60.0,
        "panicWindowSeconds": 6.0,
        "panicThreshold": 2.0,
        "scaleToZeroAfterSeconds": None,
    }
    assert spec["canary"] is None
    assert spec["port"] is None


def test_normalised_spec_validates_to_itself() -> None:
    once = validate_deployment_spec(
        {
            "model": "/models/wine",
            "replicas": {"min": 0, "max": 2},
            "canary": {"model": "models:/wine/3", "percent": 20},
        }
    )
    assert validate_deployment_spec(once) == once


def test_scale_to_zero_gets_a_default_idle_period_only_when_min_is_zero() -> None:
    assert (
        validate_deployment_spec({"model": "m", "replicas": {"min": 0}})["autoscaling"]["scaleToZeroAfterSeconds"]
        == 300.0
    )
    spec = parse_deployment_spec(
        {"model": "m", "replicas": {"min": 0, "max": 1}, "autoscaling": {"scaleToZeroAfterSeconds": 5}}
    )
    assert spec.autoscaling.scale_to_zero_after_seconds == 5


def test_llm_options_become_the_replicas_serve_flags() -> None:
    from cnai.deploy.replicas import ReplicaTemplate
    from cnai.deploy.specs import llm_flags

    spec = parse_deployment_spec({"model": "models:/chat@champion", "llm": {"slots": 2, "context": 512, "threads": 0}})
    flags = llm_flags(spec)
    assert flags == (("--llm-slots", 2), ("--llm-context", 512), ("--llm-threads", 0))
    template = ReplicaTemplate("chat", "models:/chat/1", "1", llm_options=flags)
    args = template.args("127.0.0.1", 9000)
    assert args[args.index("--llm-slots") + 1] == "2"
    assert args[args.index("--llm-context") + 1] == "512"
    # The template survives the status record a restarted controller adopts replicas from.
    assert ReplicaTemplate.from_dict(orjson.loads(orjson.dumps(template.to_dict()))) == template
    assert llm_flags(parse_deployment_spec({"model": "m"})) == ()
    # Deployments without LLM options keep the revision they had before the field existed (no roll).
    assert ReplicaTemplate("chat", "models:/chat/1", "1").revision == "95d11ef425"
    with pytest.raises(InvalidArgument, match=r"spec\.llm\.slots"):
        parse_deployment_spec({"model": "m", "llm": {"slots": 0}})


def test_llm_capture_content_becomes_the_valueless_serve_flag() -> None:
    from cnai.deploy.replicas import ReplicaTemplate
    from cnai.deploy.specs import llm_switches

    spec = parse_deployment_spec({"model": "models:/chat@champion", "llm": {"captureContent": True}})
    assert llm_switches(spec) == ("--llm-capture-content",)
    template = ReplicaTemplate("chat", "models:/chat/1", "1", llm_switches=llm_switches(spec))
    args = template.args("127.0.0.1", 9000)
    assert args[-1] == "--llm-capture-content"
    assert ReplicaTemplate.from_dict(orjson.loads(orjson.dumps(template.to_dict()))) == template
    # Turning it on is a new revision (replicas roll); off keeps the revision replicas had before.
    assert template.revision != ReplicaTemplate("chat", "models:/chat/1", "1").revision
    assert llm_switches(parse_deployment_spec({"model": "m"})) == ()
    assert validate_deployment_spec({"model": "m"})["llm"]["captureContent"] is False
    with pytest.raises(InvalidArgument, match=r"spec\.llm\.captureContent"):
        parse_deployment_spec({"model": "m", "llm": {"captureContent": "sometimes"}})


def test_snake_case_is_accepted_too() -> None:
    spec = parse_deployment_spec({"model": "m", "served_name": "wine", "batching": {"max_batch_size": 8}})
    assert spec.served_name == "wine"
    assert spec.batching.max_batch_size == 8


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({}, "spec.model: Field required"),
        ({"model": ""}, "spec.model: a model URI is required"),
        ({"model": "models:/wine"}, "spec.model: 'models:/wine' is not a registry URI"),
        ({"model": "models:/wine/latest"}, "is not a registry URI"),
        ({"model": "m", "replicas": {"min": 3, "max": 2}}, "spec.replicas: max (2) must be at least min (3)"),
        ({"model": "m", "replicas": {"min": -1}}, "spec.replicas.min: Input should be greater than or equal to 0"),
        ({"model": "m", "canary": {"model": "models:/w/2", "percent": 120}}, "spec.canary.percent"),
        ({"model": "m", "canary": {"percent": 10}}, "spec.canary.model: Field required"),
        ({"model": "m", "autoscaling": {"targetConcurrency": 0}}, "spec.autoscaling.targetConcurrency"),
        (
            {"model": "m", "autoscaling": {"stableWindowSeconds": 5, "panicWindowSeconds": 6}},
            "panicWindowSeconds (6.0) must not exceed stableWindowSeconds (5.0)",
        ),
        ({"model": "m", "resources": {"maxMemory": "lots"}}, "spec.resources.maxMemory: 'lots' is not a size"),
        ({"model": "m", "port": 70000}, "spec.port"),
        ({"model": "m", "replica": {"min": 1}}, "spec.replica: Extra inputs are not permitted"),
        ({"model": "m", "servedName": "no spaces"}, "spec.servedName"),
    ],
)
def test_bad_specs_name_the_field(spec: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgument, match="Invalid Deployment spec") as info:
        validate_deployment_spec(spec)  # type: ignore[arg-type]
    assert message in info.value.message


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(InvalidArgument) as info:
        validate_deployment_spec({"model": "", "port": 0})
    assert "spec.model" in info.value.message
    assert "spec.port" in info.value.message


def test_a_spec_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="must be a mapping"):
        validate_deployment_spec(["model"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "spec",
    [
        {"model": "models:/m/1", "autoscaling": {"targetConcurrency": "Infinity"}},
        {"model": "models:/m/1", "autoscaling": {"panicThreshold": "inf"}},
        {"model": "models:/m/1", "autoscaling": {"targetConcurrency": float("nan")}},
        {"model": "models:/m/1", "canary": {"model": "models:/m/2", "maxP99LatencyMs": "Infinity"}},
        {"model": "models:/m/1", "batching": {"maxBatchDelayMs": "Infinity"}},
    ],
)
def test_infinite_and_nan_numbers_are_refused(spec: dict[str, object]) -> None:
    """Found by the API fuzzer: these were accepted and stored as null, which the controller
    then reads as a number."""
    with pytest.raises(InvalidArgument, match="finite number"):
        validate_deployment_spec(spec)
