"""Who the caller is and what they may do.

- `auth`: `register()`, `login()`, `refresh()`, `authenticate()`, `logout()`,
  `reset_password()`, `create_staff_user()`.
- `security`: `hash_password()`, `verify_password()`, `lookup_hash()`, `encrypt_pii()`,
  `decrypt_pii()`, `mask_phone()` — passwords, keyed hashes, personal data at rest.
- `permissions`: `Permission`, `Actor`, `load_actor()`, `seed_roles()`,
  `set_role_permissions()`, `assign_roles()`.
- `sms_codes`: `issue()`, `verify()` — one-time codes, optionally bound to an operation.

Import the module: `from services.identity import auth`.
"""
