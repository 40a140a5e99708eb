"""Configuration from environment variables and an optional `.env` file."""

from __future__ import annotations

import base64
import binascii
import os
import re
from datetime import date
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parents[2]
# Files derived from installed packages (the contract font's static instance), kept per
# user across checkouts of the repository: $XDG_CACHE_HOME/lendbridge or ~/.cache.
USER_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lendbridge"

# Development defaults. They let a fresh checkout start; `APP_ENV=prod` refuses them.
DEV_JWT_SECRET = "dev-only-jwt-secret-change-me-0123456789abcdef"
DEV_PII_KEY = "ZGV2LW9ubHktcGlpLWtleS0zMi1ieXRlcy1sb25nISE="  # base64 of 32 bytes
DEV_WEBHOOK_SECRET = "dev-only-webhook-secret"
DEV_PROVIDER_API_SECRET = "dev-only-provider-api-secret"
# base64 of the 32-byte Ed25519 private key b"dev-only-platform-signing-key-32"
DEV_PLATFORM_SIGNING_KEY = "ZGV2LW9ubHktcGxhdGZvcm0tc2lnbmluZy1rZXktMzI="


# A personal-data key id: short, and never a colon (the separator in "<kid>:<token>").
PII_KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,16}")
_KID_RULE = "1 to 16 letters, digits, '-' or '_'"


def decode_pii_key(name: str, value: str) -> bytes:
    """The 32 raw bytes of a personal-data key given in base64; ValueError naming the
    setting otherwise. Decoded as PII_KEY always was, so existing keys keep their bytes."""
    try:
        key = base64.b64decode(value)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise ValueError(f"{name} must be 32 bytes, base64-encoded")
    return key


def parse_retired_pii_keys(value: str) -> dict[str, str]:
    """PII_RETIRED_KEYS, "kid:base64key,kid:base64key" (blank: none), as {kid: base64key}.

    Raises ValueError for a malformed pair, a bad key id or a key id given twice.
    """
    keys: dict[str, str] = {}
    for pair in value.split(","):
        if not pair.strip():
            continue
        kid, sep, key = (part.strip() for part in pair.partition(":"))
        if not sep or not key:
            raise ValueError("PII_RETIRED_KEYS must be comma-separated kid:base64key pairs")
        if not PII_KEY_ID_PATTERN.fullmatch(kid):
            raise ValueError(f"PII_RETIRED_KEYS: {kid!r} is not a key id ({_KID_RULE})")
        if kid in keys:
            raise ValueError(f"PII_RETIRED_KEYS names key id {kid!r} twice")
        keys[kid] = key
    return keys


# Room left in a 255-character payUrl column for the path and the page's token.
PUBLIC_URL_MAX_LENGTH = 180


def check_public_url(name: str, value: str) -> str:
    """An http(s) base URL as members' browsers reach it, without its trailing slash:
    scheme, host and optional port and path; no query, fragment, credentials or spaces.
    ValueError naming the setting otherwise."""
    url = value.strip().rstrip("/")
    parts = urlsplit(url)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
        or any(character.isspace() for character in url)
        or len(url) > PUBLIC_URL_MAX_LENGTH
    ):
        raise ValueError(
            f"{name} must be an http:// or https:// URL of at most {PUBLIC_URL_MAX_LENGTH}"
            " characters, without query or fragment, e.g. https://lendbridge.example"
        )
    try:
        parts.port  # noqa: B018  (raises on a port that is not a number in range)
    except ValueError:
        raise ValueError(f"{name} has a bad port") from None
    return url


class Environment(StrEnum):
    DEV = "dev"
    TEST = "test"
    PROD = "prod"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    app_env: Environment = Environment.DEV
    database_url: str = Field(default=f"sqlite://{ROOT / 'var' / 'lendbridge.sqlite3'}")
    redis_url: str | None = None
    # Every Redis key and channel starts with this; tests use one prefix per run.
    redis_prefix: str = "lendbridge:"
    # Connections requests may hold to Redis at once (subscriptions use one of their own).
    redis_max_connections: int = Field(default=64, ge=1)
    # CPython's thread switch interval in a serving process, in ms; None: 1 ms on the
    # embedded SQLite database, Python's own (5 ms) otherwise (see `switch_interval`).
    gil_switch_interval_ms: float | None = Field(default=None, gt=0, le=100)
    # Published outbox events are deleted this many days after (services/jobs/
    # housekeeping.py); unpublished ones are kept.
    outbox_keep_days: int = Field(default=7, ge=1)
    # Network access logs (R6): one JSON line per request, a file per UTC day
    # (services/kit/access_log.py); the retention purge removes days past their period.
    access_log_dir: str = Field(default=str(ROOT / "var" / "access-log"))
    # Loans settled to a transaction by the day's auto-debit (services/repayments/
    # daybatch.py); 0: one loan at a time, the one-loan path for every installment.
    repayment_batch_loans: int = Field(default=100, ge=0, le=1000)
    # Events one subscription may have waiting; past it the oldest go and the client
    # is told (a RESYNC error in the stream).
    subscription_queue_limit: int = Field(default=100, ge=1)
    # WebSocket discipline per process and client address (app/live.py).
    ws_pending_per_address: int = Field(default=20, ge=1)
    ws_anonymous_per_address: int = Field(default=20, ge=1)
    ws_member_per_address: int = Field(default=200, ge=1)
    ws_subscriptions_anonymous: int = Field(default=10, ge=1)
    ws_subscriptions_member: int = Field(default=50, ge=1)
    ws_init_timeout_seconds: float = Field(default=10.0, gt=0)
    ws_recheck_seconds: float = Field(default=5.0, gt=0)
    ws_max_message_bytes: int = Field(default=65_536, ge=1024)

    jwt_secret: str = DEV_JWT_SECRET
    # Personal data at rest (D4): AES-GCM with PII_KEY, stored as "<PII_KEY_ID>:<token>".
    # Retired keys ("kid:base64key,...") still decrypt what they wrote until `rotate-pii`
    # re-encrypts it. Keyed lookups use PII_LOOKUP_KEY (PII_KEY when unset), which is
    # not rotated with PII_KEY.
    pii_key: str = DEV_PII_KEY
    pii_key_id: str = "k1"
    pii_retired_keys: str = ""
    pii_lookup_key: str | None = None
    webhook_secret: str = DEV_WEBHOOK_SECRET
    # The platform's Ed25519 key (base64 of the 32-byte private key): signs what it
    # receives and issues (verification materials now, contracts later).
    platform_signing_key: str = DEV_PLATFORM_SIGNING_KEY
    # Uploaded verification materials (services/kit/storage.py).
    storage_dir: str = Field(default=str(ROOT / "var" / "storage"))
    # The static Regular instance of Noto Sans SC that contract PDFs embed, made once
    # per machine and font package version from the variable font (services/kit/fonts.py).
    font_cache_dir: str = Field(default=str(USER_CACHE / "fonts"))
    # External credit sources (M2.7: credit bureau, court, reputation, industry sharing):
    # "local" (the built-in deterministic implementation) or "package.module:ClassName",
    # a class implementing services.credit.external.ExternalSourceAdapter.
    external_sources: str = Field(
        default="local", pattern=r"^(local|[A-Za-z_][\w.]*:[A-Za-z_]\w*)$"
    )
    # Payment provider. PROVIDER_URL unset: the sandbox provider runs in-process (its own
    # SQLite database at SANDBOX_DATABASE), reached over the same HTTP protocol.
    provider_url: str | None = None
    provider_api_secret: str = DEV_PROVIDER_API_SECRET
    provider_timeout_seconds: float = 10.0
    sandbox_database: str = Field(default=str(ROOT / "var" / "sandbox-provider.sqlite3"))
    # Where the sandbox sends callbacks when it runs as its own process.
    platform_callback_url: str = "http://127.0.0.1:8000/webhooks/payments"
    # The address members' browsers reach this app at: the embedded sandbox bank's
    # payUrl is built on it. `serve` and `dev` default it to http://<host>:<port>.
    public_base_url: str = "http://127.0.0.1:8000"
    # The sandbox provider's own address when it runs as its own process (`python -m app
    # sandbox`): its payUrls point there. Unset: http://<host>:<port> it listens on.
    sandbox_public_url: str | None = None
    callback_max_age_seconds: int = 300
    # Withdrawal fee per speed, in fen (platform parameters; runtime editing is M11.3).
    withdraw_fee_t1: int = 0
    withdraw_fee_t0: int = 100
    withdraw_fee_realtime: int = 200
    # Second confirmation: how long a pending operation waits for its SMS code.
    operation_confirm_minutes: int = 5

    access_token_minutes: int = 15
    # Signed download links (services/downloads.py): minutes from issue to expiry.
    download_link_minutes: int = Field(default=5, ge=1, le=60)
    refresh_token_days: int = 30
    login_max_failures: int = 5
    login_lock_minutes: int = 15
    sms_code_minutes: int = 5
    sms_code_max_attempts: int = 5
    sms_code_resend_seconds: int = 60
    password_hash_concurrency: int = 4
    # argon2id's cost: "owasp" (m = 19 MiB, t = 2: the OWASP minimum) everywhere but the
    # test suite, which may set "test" (m = 1 MiB, t = 1): the same code and scheme at a
    # thirtieth of the CPU, for the thousands of logins the suite makes. Ignored outside
    # APP_ENV=test (`hash_cost`); tests/kit/test_security.py checks the "owasp" hashes.
    password_hash_cost: Literal["owasp", "test"] = "owasp"

    graphql_max_depth: int = 10
    graphql_max_aliases: int = 15
    graphql_max_tokens: int = 2000
    graphql_max_body_bytes: int = 100_000
    # Multipart requests (file uploads) may be larger; each kind limits its own files.
    upload_max_body_bytes: int = 64 * 1024 * 1024
    # Persisted documents (docs/persisted-queries.md): refuse every document body when
    # on; how often a process looks for a newer manifest version; max-age of public GETs;
    # how many hashes Automatic Persisted Queries keep per process.
    persisted_only: bool = False
    persisted_refresh_seconds: float = Field(default=2.0, ge=0)
    persisted_public_max_age: int = Field(default=30, ge=0, le=3600)
    apq_cache_size: int = Field(default=1000, ge=0)
    # Partners (docs/partners.md): how long a process trusts what it read of a key (a
    # revocation reaches every process within it); how often usage counts are written.
    partner_key_cache_seconds: float = Field(default=2.0, ge=0, le=60)
    partner_usage_flush_seconds: float = Field(default=5.0, gt=0, le=300)

    # Outgoing e-mail over SMTP: contracts to their parties (M3.5), members' messages.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_from: str = "LendBridge <contracts@lendbridge.local>"
    # True: connect in plain text and upgrade with STARTTLS (refused if the server can't).
    smtp_use_tls: bool = False
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_timeout_seconds: float = 10.0

    # Outgoing SMS (services/platform/notifier.py): POSTed to SMS_GATEWAY_URL with SMS_GATEWAY_KEY
    # as a bearer key. Unset: SMS only go to the log (dev and test; prod refuses that).
    sms_gateway_url: str | None = None
    sms_gateway_key: str | None = None
    sms_gateway_timeout_seconds: float = 10.0

    outbox_poll_seconds: float = 1.0
    jobs_embedded: bool = True
    # False: API processes dispatch nothing themselves (outbox, contracts' PDFs, SMS,
    # operation-log sealing, and payment instructions when PROVIDER_URL is set): `worker`
    # processes do, woken through the broker (services/kit/wakeups.py).
    dispatch_in_api: bool = True
    # A periodic job's lease (services/jobs): renewed while it runs; when its process dies,
    # another takes the job over once this much time has passed.
    job_lease_seconds: float = 60.0
    # How often a process that runs jobs looks for due ones.
    job_tick_seconds: float = 30.0
    # Dev and test only: the business clock of a new database starts at 00:00 UTC of this
    # day (then runs at real speed and moves forward by `devAdvanceClock`), so a test run
    # or a simulation never depends on the day it runs. Unset: the real date.
    clock_start: date | None = None

    def switch_interval(self) -> float | None:
        """Seconds for `sys.setswitchinterval` in a serving process, None to keep Python's.

        aiosqlite runs every statement of the embedded database in its own threads, and
        each of them must take the GIL back from an event loop thread busy with fan-out
        several times per read: at CPython's 5 ms interval a plain `loan(id)` read with
        10,000 viewers of a hot loan took p99 202-281 ms, at 1 ms 117-151 ms (bench/
        subscriptions.py, six runs each). asyncpg has no threads, so PostgreSQL keeps
        Python's interval unless GIL_SWITCH_INTERVAL_MS says otherwise."""
        if self.gil_switch_interval_ms is not None:
            return self.gil_switch_interval_ms / 1000
        return 0.001 if self.database_url.startswith("sqlite") else None

    @property
    def hash_cost(self) -> str:
        """The argon2id cost in force: "test" only in the test environment."""
        return self.password_hash_cost if self.app_env == Environment.TEST else "owasp"

    @property
    def is_prod(self) -> bool:
        return self.app_env == Environment.PROD

    @property
    def retired_pii_keys(self) -> dict[str, str]:
        """{kid: base64 key} of the retired personal-data keys."""
        return parse_retired_pii_keys(self.pii_retired_keys)

    @property
    def effective_pii_lookup_key(self) -> str:
        """The key of the keyed lookup hashes: PII_LOOKUP_KEY, or PII_KEY when unset."""
        return self.pii_lookup_key or self.pii_key

    @property
    def dev_tools_enabled(self) -> bool:
        """`devOutbox`, `devAdvanceClock` and GraphiQL exist only in dev and test."""
        return self.app_env in (Environment.DEV, Environment.TEST)

    @field_validator(
        "pii_lookup_key", "sms_gateway_url", "sms_gateway_key", "sandbox_public_url", mode="before"
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("public_base_url", "sandbox_public_url")
    @classmethod
    def _check_public_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        return check_public_url(str(info.field_name).upper(), value)

    @model_validator(mode="after")
    def _check_pii_keys(self) -> Settings:
        if not PII_KEY_ID_PATTERN.fullmatch(self.pii_key_id):
            raise ValueError(f"PII_KEY_ID must be {_KID_RULE}")
        decode_pii_key("PII_KEY", self.pii_key)
        if self.pii_lookup_key is not None:
            decode_pii_key("PII_LOOKUP_KEY", self.pii_lookup_key)
        retired = self.retired_pii_keys
        for kid, key in retired.items():
            decode_pii_key(f"PII_RETIRED_KEYS ({kid})", key)
        if self.pii_key_id in retired:
            raise ValueError(
                f"PII_RETIRED_KEYS names the current key id {self.pii_key_id!r}: "
                "give the new key a new PII_KEY_ID"
            )
        if retired and self.pii_lookup_key is None:
            # Otherwise the lookups would silently follow the new PII_KEY and no phone
            # number could be found (no login) until everything was re-hashed.
            raise ValueError(
                "PII_LOOKUP_KEY must be set when PII_RETIRED_KEYS is: to the key the "
                "stored lookups were made with (the first PII_KEY, if it was never set)"
            )
        return self

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_prod(self) -> Settings:
        if self.app_env == Environment.PROD:
            defaults = {
                "JWT_SECRET": (self.jwt_secret, DEV_JWT_SECRET),
                "PII_KEY": (self.pii_key, DEV_PII_KEY),
                "WEBHOOK_SECRET": (self.webhook_secret, DEV_WEBHOOK_SECRET),
                "PROVIDER_API_SECRET": (self.provider_api_secret, DEV_PROVIDER_API_SECRET),
                "PLATFORM_SIGNING_KEY": (self.platform_signing_key, DEV_PLATFORM_SIGNING_KEY),
            }
            unsafe = [name for name, (value, dev) in defaults.items() if value == dev]
            if (self.pii_lookup_key or "").strip() == DEV_PII_KEY:
                unsafe.append("PII_LOOKUP_KEY")
            if DEV_PII_KEY in self.retired_pii_keys.values():
                unsafe.append("PII_RETIRED_KEYS")
            if unsafe:
                raise ValueError(f"APP_ENV=prod refuses the development secrets: {unsafe}")
            if self.clock_start is not None:
                raise ValueError("APP_ENV=prod refuses CLOCK_START: prod runs on the real date")
            if len(self.jwt_secret) < 32:
                raise ValueError("JWT_SECRET must be at least 32 characters in prod")
        return self

    @model_validator(mode="after")
    def _refuse_dev_adapters_in_prod(self) -> Settings:
        """Prod must reach the real world: a real payment provider, real credit sources,
        a real SMS gateway. Each development stand-in is refused by its variable's name,
        so a forgotten variable stops the start instead of faking money or codes."""
        if self.app_env != Environment.PROD:
            return self
        problems = []
        if not self.provider_url:
            problems.append(
                "PROVIDER_URL must be set (unset runs the in-process sandbox payment "
                "provider: no real money moves)"
            )
        if self.external_sources == "local":
            problems.append(
                "EXTERNAL_SOURCES must name an adapter class, not 'local' (the built-in "
                "made-up credit reports)"
            )
        if not self.sms_gateway_url:
            problems.append("SMS_GATEWAY_URL must be set (unset, SMS only go to the log)")
        if not self.sms_gateway_key:
            problems.append("SMS_GATEWAY_KEY must be set (the SMS gateway's bearer key)")
        if problems:
            refused = "; ".join(problems)
            raise ValueError(f"APP_ENV=prod refuses the development adapters: {refused}")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
