"""The Grafana dashboard and the Prometheus alert rules name only metrics Parley exports."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase
from pymongo.database import Database
from starlette.testclient import TestClient

from core.settings import Settings
from ingress.app import create_app
from ingress.metrics import QueueDepthCollector
from tasks import metrics as worker_metrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


@pytest.fixture(scope="module")
def exported(db: Database[Any], broker: redis.Redis) -> Iterator[set[str]]:
    """Every metric name a live registry holds once the ingress has answered requests."""
    with TestClient(create_app(Settings()), raise_server_exceptions=False) as client:
        client.get("/health/live")
        client.post("/webhooks/slack/no-such-config", content=b"{}")  # refused: 404
        client.get("/metrics")
    names = {sample.name for family in REGISTRY.collect() for sample in family.samples}
    names |= {sample.name for f in QueueDepthCollector(broker).collect() for sample in f.samples}
    names |= _worker_series()
    yield names


# The series each metric type exposes (prometheus-client's names for them).
SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_count", "_sum")}


def _worker_series() -> set[str]:
    """The series the workers' metrics (tasks/metrics.py) expose: served by each worker's own
    endpoint (tests/tasks/test_worker_metrics.py scrapes one), so named here from the families
    the module defines, each as its type exposes it."""
    families = [
        metric.describe()[0]
        for metric in vars(worker_metrics).values()
        if isinstance(metric, MetricWrapperBase)
    ]
    return {family.name + suffix for family in families for suffix in SUFFIXES[family.type]}


def _metric_names(expr: str) -> set[str]:
    without_labels = re.sub(r"\{[^}]*\}", "", expr)
    return {name for name in re.findall(r"\bparley_[a-z_]+", without_labels)}


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads((DEPLOY / "grafana" / "parley.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def _rules() -> list[dict[str, Any]]:
    document = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_the_rules_file_has_the_prometheus_rule_shape() -> None:
    rules = _rules()
    assert rules
    for rule in rules:
        assert {"alert", "expr", "for", "labels", "annotations"} <= rule.keys()
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]


def test_every_expression_names_only_exported_metrics(exported: set[str]) -> None:
    expressions = [*_dashboard_exprs(), *(rule["expr"] for rule in _rules())]
    assert expressions
    for expr in expressions:
        names = _metric_names(expr)
        assert names, expr
        assert names <= exported, (expr, names - exported)
