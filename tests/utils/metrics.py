"""Reading a server's /metrics as a Prometheus scraper would, and comparing two readings."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import httpx
from prometheus_client.parser import text_string_to_metric_families

# (sample name, sorted label pairs) -> value
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"].startswith("text/plain"), response.headers
    return parse(response.text)


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """One series' value; a missing series fails (every series exists from the start)."""
    key = (name, tuple(sorted(labels.items())))
    assert key in samples, f"no series {name}{labels} in /metrics"
    return samples[key]


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def changes(before: Samples, after: Samples, names: Iterable[str]) -> Mapping[str, float]:
    """Every series of `names` that moved, `name{labels}` -> by how much (histograms by their
    `_count`: sums and buckets depend on timing)."""
    wanted = set(names)
    moved_by = {}
    for key, after_value in after.items():
        name, labels = key
        if name not in wanted:
            continue
        delta = after_value - before.get(key, 0.0)
        if delta:
            label_text = ",".join(f'{k}="{v}"' for k, v in labels)
            moved_by[f"{name}{{{label_text}}}"] = delta
    return moved_by
