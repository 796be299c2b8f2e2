"""Parsing MLflow request messages: proto3 JSON rules and clear errors."""

from __future__ import annotations

import math

import pytest

from cnai.errors import InvalidArgument
from cnai.tracking.api.message import Message, to_float, to_int
from cnai.tracking.api.runs import metric_point


def test_proto3_numbers() -> None:
    assert to_int("1795462604506", "t") == 1795462604506
    assert to_int(3.0, "t") == 3
    assert math.isnan(to_float("NaN", "v"))
    assert to_float("-Infinity", "v") == -math.inf
    assert to_float("2.5", "v") == 2.5
    for bad in ("abc", True, [1], {"a": 1}, 1.5):
        with pytest.raises(InvalidArgument):
            to_int(bad, "t")
    for bad in ("abc", False, None, [1.0]):
        with pytest.raises(InvalidArgument):
            to_float(bad, "v")


def test_repeated_query_fields_and_required() -> None:
    m = Message({"experiment_ids": "1", "name": ["only"], "flag": "true"})
    assert m.str_list("experiment_ids") == ["1"]
    assert m.str("name") == "only"
    assert m.bool("flag") is True
    with pytest.raises(InvalidArgument, match="required parameter 'missing'"):
        m.str("missing", required=True)


def test_key_values_reject_wrong_shapes() -> None:
    assert Message({"tags": [{"key": "a", "value": "b"}, {"key": "c"}]}).key_values("tags") == [("a", "b"), ("c", "")]
    for bad in ([{"value": "x"}], ["str"], [{"key": "a", "value": 3}]):
        with pytest.raises(InvalidArgument):
            Message({"tags": bad}).key_values("tags")


def test_metric_point_defaults_and_types() -> None:
    p = metric_point({"key": "m", "value": 1, "timestamp": "10", "step": "2"})
    assert (p.value, p.timestamp, p.step) == (1.0, 10, 2)
    assert metric_point({"key": "m", "value": 0.5}).timestamp > 0
    with pytest.raises(InvalidArgument):
        metric_point({"key": "m"})
    with pytest.raises(InvalidArgument):
        metric_point({"key": "m", "value": 1.0, "model_id": 5})
