"""Prometheus metrics of the web front door (one registry per app, so tests stay isolated)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily


class RedisTotals:
    """A counter whose values live in Redis (every worker adds to them), exported as a
    Prometheus counter: ``/metrics`` copies the values in when it is scraped. A
    ``prometheus_client.Counter`` only counts what this process saw.

    ``name`` is given without ``_total``: the exposition adds it, as for every counter.
    Without a ``label`` it is one series, 0 until Redis holds a value."""

    def __init__(
        self, name: str, documentation: str, label: str | None, registry: CollectorRegistry
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.label = label
        self.values: dict[str, float] = {}
        registry.register(self)

    def collect(self) -> Iterator[CounterMetricFamily]:
        if self.label is None:
            yield CounterMetricFamily(self.name, self.documentation, value=sum(self.values.values()))
            return
        family = CounterMetricFamily(self.name, self.documentation, labels=[self.label])
        for value, total in sorted(self.values.items()):
            family.add_metric([value], total)
        yield family


@dataclass
class WebMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self._children: dict[tuple[str, str], Any] = {}
        self.deliveries = Counter(
            "shunter_webhook_deliveries",
            "Webhook deliveries received, by event and outcome.",
            ["event", "outcome"],
            registry=self.registry,
        )
        self.enqueue_latency = Histogram(
            "shunter_enqueue_latency_seconds",
            "Time to store a verified delivery in Redis.",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "shunter_queue_depth",
            "Jobs waiting per rq queue (sampled when /metrics is scraped; absent while Redis "
            "cannot be read, see shunter_redis_up).",
            ["queue"],
            registry=self.registry,
        )
        self.redis_up = Gauge(
            "shunter_redis_up",
            "1 when this scrape could read Redis, 0 when it could not (the queue depths are "
            "then left out rather than shown at their last value).",
            registry=self.registry,
        )

        # running totals the sweeps add to in Redis: counters (rate() and increase() apply),
        # sweeps apart from deliveries so that summing over ``outcome`` counts deliveries
        self.redelivery_sweeps = RedisTotals(
            "shunter_redelivery_sweeps",
            "Missed-delivery sweeps run, across all processes.",
            None,
            self.registry,
        )
        self.redeliveries = RedisTotals(
            "shunter_redeliveries",
            "Missed deliveries the sweeps handled, by outcome: redelivered; gave_up (still "
            "failing after the most redeliveries Shunter asks for, counted at each sweep that "
            "finds it); errors (the redelivery request failed); across all processes.",
            "outcome",
            self.registry,
        )

        self.retention_last_run = Gauge(
            "shunter_retention_last_run_timestamp_seconds",
            "When run history was last pruned successfully (Unix time; 0 before the first), "
            "read from Redis when /metrics is scraped.",
            registry=self.registry,
        )
        self.retention_pruned = RedisTotals(
            "shunter_retention_pruned",
            "Rows run history pruning deleted, by table, across all processes.",
            "kind",
            self.registry,
        )
        self.retention_prunes = RedisTotals(
            "shunter_retention_prunes",
            "Run history prunes, by outcome (ok, failed), across all processes.",
            "outcome",
            self.registry,
        )

    def show_redeliveries(self, totals: dict[str, int]) -> None:
        """Take the sweeps' figures as ``bot.github.redelivery`` keeps them (``sweeps`` beside
        the deliveries' outcomes)."""
        self.redelivery_sweeps.values = {"": totals["sweeps"]} if "sweeps" in totals else {}
        self.redeliveries.values = {k: v for k, v in totals.items() if k != "sweeps"}

    def show_retention(self, totals: dict[str, int], last_run: float | None) -> None:
        """Take the prunes' figures as ``bot.store.retention.record_prune`` keeps them."""
        outcomes = {"prunes": "ok", "failures": "failed"}
        self.retention_prunes.values = {outcomes[k]: v for k, v in totals.items() if k in outcomes}
        self.retention_pruned.values = {k: v for k, v in totals.items() if k not in outcomes}
        if last_run is not None:
            self.retention_last_run.set(last_run)

    def count(self, event: str, outcome: str) -> None:
        """Count a delivery; label children are cached (this runs on every request)."""
        key = (event, outcome)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.deliveries.labels(event, outcome)
        child.inc()
