"""Kubernetes quantities and the spec.resources rules of a Deployment spec."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cnai.deploy.quantity import normalise, to_number
from cnai.deploy.specs import parse_deployment_spec
from cnai.errors import InvalidArgument


@pytest.mark.parametrize(
    ("text", "value"),
    [("500m", "0.5"), ("2", "2"), ("1Gi", str(2**30)), ("1.5G", "1500000000"), ("1e3", "1000"), ("100Ki", "102400")],
)
def test_quantities(text: str, value: str) -> None:
    assert to_number(text) == Decimal(value)


@pytest.mark.parametrize("text", ["lots", "1GB", "1 Gi", "", "Gi", "1.2.3"])
def test_not_quantities(text: str) -> None:
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        to_number(text)


def test_yaml_numbers_become_quantity_text() -> None:
    assert normalise(2) == "2"
    assert normalise(0.5) == "0.5"
    with pytest.raises(ValueError, match="negative"):
        normalise("-1")


def test_spec_resources_in_kubernetes_form_are_stored_as_given() -> None:
    spec = parse_deployment_spec(
        {
            "model": "m",
            "resources": {"requests": {"cpu": 0.5, "memory": "1Gi"}, "limits": {"memory": "2Gi", "nvidia.com/gpu": 1}},
        }
    )
    assert spec.resources.requests == {"cpu": "0.5", "memory": "1Gi"}
    assert spec.resources.limits == {"memory": "2Gi", "nvidia.com/gpu": "1"}
    # the local runner: the memory limit bounds the loaded models when maxMemory is not given
    assert spec.resources.model_budget == str(2 * 2**30)
    both = parse_deployment_spec({"model": "m", "resources": {"maxMemory": "1G", "limits": {"memory": "2Gi"}}})
    assert both.resources.model_budget == "1G"


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ({"requests": {"cpu": "fast"}}, "'fast' is not a Kubernetes quantity"),
        ({"requests": {"memory": "3Gi"}, "limits": {"memory": "2Gi"}}, "must not exceed limits.memory"),
        ({"limits": {"nvidia.com/gpu": "0.5"}}, "whole number of GPUs"),
        ({"requests": {"nvidia.com/gpu": 1}}, "under limits only"),
        ({"limits": {"amd.com/gpu": 1}}, "limits.amd.com/gpu is not supported"),
        ({"requests": ["cpu"]}, "must map resource names"),
    ],
)
def test_bad_resources_are_refused_with_the_field(resources: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgument, match=r"spec\.resources") as caught:
        parse_deployment_spec({"model": "m", "resources": resources})
    assert message in str(caught.value)


def test_an_exponent_past_any_machine_is_refused_quickly() -> None:
    with pytest.raises(ValueError, match="out of range"):
        to_number("1e999999999")
