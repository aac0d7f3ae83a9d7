"""The monitoring profile: Prometheus scrapes every process where docker-compose.yml serves its
metrics, and the Grafana dashboard asks only for metrics the processes export."""

from __future__ import annotations

import json
import re
from types import ModuleType
from typing import Any

import yaml
from prometheus_client import REGISTRY

from observability.metrics import QueueDepthCollector
from observability.metrics_setup import DEFAULT_PORTS
from tests.compose.conftest import ROOT

MONITORING = ROOT / "compose" / "monitoring"
SAMPLE_SUFFIXES = ("_total", "_bucket", "_count", "_sum")


def scrape_targets() -> dict[str, tuple[str, int]]:
    """job -> (the DNS name it resolves, the port it scrapes)."""
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    targets = {}
    for job in config["scrape_configs"]:
        (sd,) = job["dns_sd_configs"]
        (name,) = sd["names"]
        targets[job["job_name"]] = (name, int(sd["port"]))
    return targets


def exported_metric_names() -> set[str]:
    names = {family.name for family in REGISTRY.collect() if family.name.startswith("innotter_")}
    return names | {family.name for family in QueueDepthCollector("amqp://unused", []).describe()}


def dashboard_expressions() -> list[str]:
    dashboard = json.loads((MONITORING / "grafana" / "dashboards" / "innotter.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_every_process_with_a_metrics_port_is_scraped(runner: ModuleType) -> None:
    targets = scrape_targets()
    assert set(targets) == set(runner.METRICS_OFFSETS) == set(DEFAULT_PORTS)
    for job, (name, port) in targets.items():
        assert name == job
        assert port == DEFAULT_PORTS[job], f"{job}: scraped on {port}, serves on {DEFAULT_PORTS[job]}"


def test_every_scrape_target_is_a_service_serving_that_port(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    for job, (name, port) in scrape_targets().items():
        assert name in services, f"{job}: no service {name!r} in docker-compose.yml"
        env = services[name]["environment"]
        assert env["METRICS_PORT"] == str(port), f"{name} serves metrics on {env.get('METRICS_PORT')}"
        assert env["METRICS_HOST"] == "0.0.0.0"  # reachable from the prometheus container
        assert str(port) in [str(p) for p in services[name].get("expose", [])]


def target(port: str | dict[str, Any]) -> str:
    """The container side of a published port (docker-compose v1 renders "host:port/tcp", v2 a dict)."""
    if isinstance(port, dict):
        return str(port["target"])
    return port.rsplit(":", 1)[-1].split("/")[0]


def sources(svc: dict[str, Any]) -> dict[str, str]:
    """A service's mounts: container path -> host path or volume."""
    mounts = {}
    for entry in svc["volumes"]:
        if isinstance(entry, dict):
            mounts[entry["target"]] = entry.get("source", "")
        else:
            source, path, *_ = entry.split(":")
            mounts[path] = source
    return mounts


def test_no_metrics_port_is_published_on_the_host(compose_config: dict[str, Any]) -> None:
    ports = {str(p) for p in DEFAULT_PORTS.values()}
    for name, svc in compose_config["services"].items():
        published = {target(p) for p in svc.get("ports", [])}
        assert not published & ports, f"{name} publishes a metrics port"
    assert target(compose_config["services"]["grafana"]["ports"][0]) == "3000"


def test_prometheus_and_grafana_run_only_with_the_monitoring_profile(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["monitoring"]
    assert all(
        not svc.get("profiles") for name, svc in services.items() if name not in {"prometheus", "grafana"}
    )
    mounts = sources(services["prometheus"])
    assert mounts["/etc/prometheus/prometheus.yml"].endswith("compose/monitoring/prometheus.yml")
    grafana = sources(services["grafana"])
    assert grafana["/etc/grafana/provisioning"].endswith("compose/monitoring/grafana/provisioning")
    provider = yaml.safe_load((MONITORING / "grafana/provisioning/dashboards/innotter.yml").read_text())
    (dashboards,) = provider["providers"]
    assert grafana[dashboards["options"]["path"]].endswith("compose/monitoring/grafana/dashboards")


def test_the_dashboard_uses_only_exported_metrics() -> None:
    exported = exported_metric_names()
    used = set()
    for expr in dashboard_expressions():
        for sample in re.findall(r"\binnotter_[a-z_]+", expr):
            family = next((sample.removesuffix(s) for s in SAMPLE_SUFFIXES if sample.endswith(s)), sample)
            used.add(family if family in exported else sample)
    assert used - exported == set()
    assert exported - used == set(), "a metric the dashboard does not show"


def test_the_dashboard_reads_the_provisioned_datasource() -> None:
    datasources = yaml.safe_load((MONITORING / "grafana/provisioning/datasources/prometheus.yml").read_text())
    (prometheus,) = datasources["datasources"]
    assert prometheus["url"] == "http://prometheus:9090"
    dashboard = json.loads((MONITORING / "grafana" / "dashboards" / "innotter.json").read_text())
    uids = {t["datasource"]["uid"] for p in dashboard["panels"] for t in p["targets"]}
    assert uids == {prometheus["uid"]}
