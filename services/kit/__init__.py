"""Infrastructure that knows no domain: nothing here imports another `services` package.

- `db`: the Tortoise configuration (`tortoise_config`, `TORTOISE_ORM`).
- `settings`: `get_settings()`, the environment and `.env` read once.
- `logs`: `configure_logging(settings)`.
- `metrics`: the Prometheus counters and histograms of the process.
- `broker`: publish/subscribe and shared counters (in-process or Redis).
- `loops`: `run_until_stopped`, the one loop shape of background dispatchers.
- `storage`: where uploaded files live (`Storage`, the local-directory store).
- `signing`: the platform's Ed25519 signature.
- `security`: `hash_password()`, `verify_password()`, `lookup_hash()`, `encrypt_pii()`,
  `decrypt_pii()`, `mask_phone()` — passwords, keyed hashes, personal data at rest.
- `crashpoints`: `hit(name, detail)`, test-only fault injection.

Import the module, not its names: `from services.kit import settings`.
"""
