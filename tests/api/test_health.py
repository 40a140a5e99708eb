"""Liveness, readiness and Prometheus metrics, as a load balancer and a scraper see them."""

from __future__ import annotations

import re

import pytest

from services.kit.broker import get_broker

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_healthz_is_ok(client):
    response = await client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_database_and_broker(client):
    response = await client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"ready": True, "database": True, "broker": True}


async def test_readyz_is_503_when_the_broker_does_not_answer(client, monkeypatch):
    async def no_answer() -> bool:
        return False

    monkeypatch.setattr(get_broker(), "ping", no_answer)

    response = await client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {"ready": False, "database": True, "broker": False}


def _requests_total(text: str, *, method: str, path: str, status: str) -> float:
    pattern = (
        r"^lendbridge_http_requests_total\{"
        rf'method="{method}",path="{re.escape(path)}",status="{status}"'
        r"\} (\S+)$"
    )
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def test_metrics_count_requests_in_prometheus_text(client):
    before = (await client.get("/metrics")).text
    await client.get("/healthz")
    await client.get("/healthz")
    await client.get("/no-such-page")

    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert "# TYPE lendbridge_http_requests_total counter" in text
    assert "# TYPE lendbridge_http_request_seconds histogram" in text
    counted = {"method": "GET", "path": "/healthz", "status": "200"}
    assert _requests_total(text, **counted) == _requests_total(before, **counted) + 2
    # Unknown paths share one label, so a scanner cannot blow up the series count.
    unknown = {"method": "GET", "path": "other", "status": "404"}
    assert _requests_total(text, **unknown) == _requests_total(before, **unknown) + 1
    assert "/no-such-page" not in text
