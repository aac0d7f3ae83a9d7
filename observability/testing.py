"""Reading metrics in tests: a process's real endpoint, or this process's own registry."""

from __future__ import annotations

import http.client
import urllib.request

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    """Every sample a metrics endpoint serves, by (sample name, labels)."""
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape_if_up(url: str) -> Samples:
    """`scrape`, or nothing while the process is not listening yet (for polling)."""
    try:
        return scrape(url)
    except (OSError, http.client.HTTPException):  # refused, or reset while the server starts
        return {}


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value (0 when it is not there yet: a counter nothing has moved)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def local(name: str, **labels: str) -> float:
    """One sample of this process's own registry (0 when absent)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0
