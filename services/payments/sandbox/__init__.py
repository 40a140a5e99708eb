"""The sandbox payment provider: a stand-in for the third-party custodian, like a real
provider's test mode. It keeps its own books (an SQLite file, never the platform's
database), speaks the provider HTTP protocol (`asgi.py`), and lets tests play the
outside world: the bank paying or refusing, settlement runs, and injected faults.
"""

from services.payments.sandbox.asgi import SandboxApp, create_sandbox_app
from services.payments.sandbox.common import (
    Balance,
    CallbackRecord,
    Deliver,
    luhn_complete,
    luhn_valid,
    sign_callback,
)
from services.payments.sandbox.core import Sandbox
from services.payments.sandbox.faults import FaultConfig
from services.payments.sandbox.transport import HttpCallbackDeliverer, sign_request

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
