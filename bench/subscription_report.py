"""The figures of `bench/subscriptions.py`: what a run measured, its JSON summary and
its table."""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.common import percentile


@dataclass
class Figures:
    connect_seconds: float = 0.0
    warm_seconds: float = 0.0
    subscribed: int = 0
    connect_failed: int = 0
    rss_cold: float = 0.0
    rss_baseline: float = 0.0
    rss_connected: float = 0.0
    rss_after_leave: float = 0.0
    leave_seconds: float = 0.0
    rss_peak: float = 0.0
    rss_after_rounds: list[float] = field(default_factory=list)
    fds: dict[str, int] = field(default_factory=dict)
    cpu_seconds: float = 0.0
    clients_cpu_seconds: float = 0.0
    phase_seconds: float = 0.0
    sent: dict[str, float] = field(default_factory=dict)  # funded -> confirm sent
    confirm_seconds: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    delivered: int = 0
    unexpected: int = 0
    resync: int = 0
    client_errors: Counter[str] = field(default_factory=Counter)
    query_seconds: list[float] = field(default_factory=list)
    query_failures: int = 0


def _ms(values: list[float], share: float) -> float | None:
    return round(percentile(values, share), 1) if values else None


def summary(args: argparse.Namespace, backend: str, figures: Figures) -> dict[str, Any]:
    n = figures.subscribed
    expected = n * args.bids
    grown = figures.rss_connected - figures.rss_baseline
    return {
        "n": args.subscribers,
        "subscribed": n,
        "connect_failed": figures.connect_failed,
        "m": args.bids,
        "processes": args.processes,
        "connect_seconds": round(figures.connect_seconds, 2),
        "warm_seconds": round(figures.warm_seconds, 2),
        "delivery_p50_ms": _ms(figures.latencies, 0.50),
        "delivery_p99_ms": _ms(figures.latencies, 0.99),
        "delivery_max_ms": _ms(figures.latencies, 1.0),
        "delivered": figures.delivered,
        "expected": expected,
        "missing": expected - figures.delivered,
        "unexpected": figures.unexpected,
        "resync": figures.resync,
        "client_errors": sum(figures.client_errors.values()),
        "confirm_p50_ms": _ms(figures.confirm_seconds, 0.50),
        "cpu_ms_per_event": (
            round(figures.cpu_seconds * 1000 / figures.delivered, 3) if figures.delivered else None
        ),
        "server_cpu_seconds": round(figures.cpu_seconds, 2),
        "clients_cpu_seconds": round(figures.clients_cpu_seconds, 2),
        "phase_seconds": round(figures.phase_seconds, 2),
        "warm_bids": args.warm_bids,
        "warm_crowd": args.warm_crowd,
        "rss_cold_mb": round(figures.rss_cold, 1),
        "rss_baseline_mb": round(figures.rss_baseline, 1),
        "rss_connected_mb": round(figures.rss_connected, 1),
        "rss_per_1000_mb": round(grown / n * 1000, 2) if n else None,
        "rss_after_leave_mb": round(figures.rss_after_leave, 1),
        "rss_after_leave_ratio": round(figures.rss_after_leave / figures.rss_baseline, 3),
        "rss_after_leave_cold_ratio": round(figures.rss_after_leave / figures.rss_cold, 3),
        "rss_peak_mb": round(figures.rss_peak, 1),
        "rss_after_rounds_mb": [round(rss, 1) for rss in figures.rss_after_rounds],
        "server_fds": figures.fds,
        "http_queries": len(figures.query_seconds),
        "http_failures": figures.query_failures,
        "http_p50_ms": _ms(figures.query_seconds, 0.50),
        "http_p99_ms": _ms(figures.query_seconds, 0.99),
        "deflate": not args.no_deflate,
        "backend": backend,
    }


def table(result: dict[str, Any]) -> list[str]:
    def value(key: str, unit: str = "") -> str:
        found = result[key]
        return "-" if found is None else f"{found}{unit}"

    rows = [
        ("subscribers (subscribed / asked)", f"{result['subscribed']} / {result['n']}"),
        ("client processes", value("processes")),
        ("connect time (all subscribes sent)", value("connect_seconds", " s")),
        ("  until all received the warm-up", value("warm_seconds", " s")),
        ("bids", value("m")),
        (
            "delivery p50 / p99 / max (from confirm sent)",
            f"{value('delivery_p50_ms')} / {value('delivery_p99_ms')} / "
            f"{value('delivery_max_ms')} ms",
        ),
        (
            "delivered / expected (missing)",
            f"{result['delivered']} / {result['expected']} ({result['missing']})",
        ),
        ("RESYNC / client errors", f"{result['resync']} / {result['client_errors']}"),
        ("confirmOperation p50", value("confirm_p50_ms", " ms")),
        ("server CPU per delivered event", value("cpu_ms_per_event", " ms")),
        (
            "server CPU over the bid phase",
            f"{result['server_cpu_seconds']} s in {result['phase_seconds']} s"
            f" (client processes: {result['clients_cpu_seconds']} s)",
        ),
        (
            "RSS cold / baseline (warm) / all subscribed",
            f"{result['rss_cold_mb']} / {result['rss_baseline_mb']} /"
            f" {result['rss_connected_mb']} MiB (peak {result['rss_peak_mb']} MiB)",
        ),
        ("RSS per 1,000 subscribers", value("rss_per_1000_mb", " MiB")),
        (
            "RSS after they left (ratio to baseline)",
            f"{result['rss_after_leave_mb']} MiB ({result['rss_after_leave_ratio']};"
            f" to the cold one {result['rss_after_leave_cold_ratio']})",
        ),
        (
            "  after each further round of N",
            ", ".join(f"{rss} MiB" for rss in result["rss_after_rounds_mb"]) or "-",
        ),
        (
            "server's open files: baseline / subscribed / left",
            " / ".join(
                str(result["server_fds"].get(key, "-"))
                for key in ("baseline", "connected", "after_leave")
            ),
        ),
        (
            "HTTP loan(id) meanwhile: p50 / p99",
            f"{value('http_p50_ms')} / {value('http_p99_ms')} ms"
            f" ({result['http_queries']} ok, {result['http_failures']} failed)",
        ),
    ]
    width = max(len(label) for label, _ in rows)
    return [f"{label:<{width}}  {text}" for label, text in rows]
