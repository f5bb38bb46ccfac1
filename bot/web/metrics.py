"""Prometheus metrics of the web front door (one registry per app, so tests stay isolated)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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
            "Jobs waiting per rq queue (sampled when /metrics is scraped).",
            ["queue"],
            registry=self.registry,
        )

        self.redeliveries = Gauge(
            "shunter_redeliveries",
            "Missed-delivery sweeps and their outcomes since Redis was set up, cumulative "
            "across all processes (read from Redis when /metrics is scraped).",
            ["outcome"],
            registry=self.registry,
        )

    def count(self, event: str, outcome: str) -> None:
        """Count a delivery; label children are cached (this runs on every request)."""
        key = (event, outcome)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.deliveries.labels(event, outcome)
        child.inc()
