"""The sandbox payment provider: a stand-in for the third-party custodian, like a real
provider's test mode. It keeps its own books (an SQLite file, never the platform's
database), speaks the provider HTTP protocol (`asgi.py`), and lets tests play the
outside world: the bank paying or refusing, settlement runs, and injected faults.
"""

from services.payments.sandbox.asgi import (
    HttpCallbackDeliverer,
    SandboxApp,
    create_sandbox_app,
    sign_request,
)
from services.payments.sandbox.core import (
    Balance,
    CallbackRecord,
    Deliver,
    Sandbox,
    luhn_complete,
    luhn_valid,
    sign_callback,
)
from services.payments.sandbox.faults import FaultConfig

__all__ = [
    "Balance",
    "CallbackRecord",
    "Deliver",
    "FaultConfig",
    "HttpCallbackDeliverer",
    "Sandbox",
    "SandboxApp",
    "create_sandbox_app",
    "luhn_complete",
    "luhn_valid",
    "sign_callback",
    "sign_request",
]
