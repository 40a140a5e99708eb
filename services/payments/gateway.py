"""The process's payment provider (sandbox in-process, sandbox over HTTP, or a real one)."""

from __future__ import annotations

from services.payments.provider import PaymentProvider

_provider: PaymentProvider | None = None


def set_provider(provider: PaymentProvider | None) -> None:
    global _provider
    _provider = provider


def get_provider() -> PaymentProvider:
    if _provider is None:
        raise RuntimeError("no payment provider configured (the app lifespan sets one)")
    return _provider


def current_provider() -> PaymentProvider | None:
    """The configured provider, or None in a process started without one."""
    return _provider
