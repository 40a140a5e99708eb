"""Prometheus metrics of this process (defined once per process)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

HTTP_REQUESTS = Counter(
    "lendbridge_http_requests_total", "HTTP requests", ["method", "path", "status"]
)
HTTP_LATENCY = Histogram("lendbridge_http_request_seconds", "HTTP request latency", ["path"])
GRAPHQL_OPERATIONS = Counter(
    "lendbridge_graphql_operations_total", "GraphQL operations", ["type", "outcome"]
)
PARTNER_REQUESTS = Counter(
    "lendbridge_partner_requests_total",
    "Partners' requests by outcome (`unknown` partner: a key that does not work)",
    ["partner", "outcome"],
)
