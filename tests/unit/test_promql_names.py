"""The PromQL name extraction the dashboard test relies on: it must find every metric a query
selects and nothing else, or the dashboard check passes queries it should refuse."""

from __future__ import annotations

import pytest

from tests.fixtures.promql import dashboard_queries, exposed_names, metric_names


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("up", {"up"}),
        ('rate(cnai_serving_requests_total{model=~"$model", code!="200"}[5m])', {"cnai_serving_requests_total"}),
        (
            "histogram_quantile(0.95, sum by (le, model) (rate(cnai_serving_request_duration_seconds_bucket[5m])))",
            {"cnai_serving_request_duration_seconds_bucket"},
        ),
        (
            "sum by (target) (rate(a_total[5m])) / scalar(sum(rate(a_total[5m])))",
            {"a_total"},
        ),
        ("x / on (job) group_left (instance) y offset 1h", {"x", "y"}),
        ("max_over_time(rate(q_total[5m])[1h:1m])", {"q_total"}),
        ('a and bool b or c unless d{by="on (x)"}', {"a", "b", "c", "d"}),
        ("sum without (instance) (process_open_fds) > 1e3", {"process_open_fds"}),
        ('changes(process_start_time_seconds{job=~"$job"}[$__rate_interval])', {"process_start_time_seconds"}),
    ],
)
def test_metric_names(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_exposed_names_expand_families_by_type() -> None:
    text = "\n".join(
        [
            "# HELP r Requests",
            "# TYPE r counter",
            "# HELP d Latency",
            "# TYPE d histogram",
            'd_bucket{le="+Inf"} 1.0',
            "# TYPE g gauge",
            "g 3.0",
            "# TYPE c_total counter",  # the OpenMetrics spelling of a counter's family
        ]
    )
    names = exposed_names(text)
    assert {"r_total", "r_created", "d_bucket", "d_sum", "d_count", "g", "c_total"} <= names
    assert "r" not in names  # a counter is scraped as r_total only
    assert "d" not in names


def test_dashboard_queries_reach_nested_panels_and_variables() -> None:
    dashboard = {
        "panels": [{"title": "row", "panels": [{"title": "p", "targets": [{"refId": "A", "expr": "a"}]}]}],
        "templating": {"list": [{"name": "m", "type": "query", "query": {"query": "label_values(b, model)"}}]},
    }
    assert [q for _, q in dashboard_queries(dashboard)] == ["a", "b"]
