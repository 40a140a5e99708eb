"""Who the caller is and what they may do.

- `auth`: `register()`, `login()`, `refresh()`, `authenticate()`, `logout()`,
  `reset_password()`, `create_staff_user()`.
- `permissions`: `Permission`, `Actor`, `load_actor()`, `seed_roles()`,
  `set_role_permissions()`, `assign_roles()`.
- `sms_codes`: `issue()`, `verify()` — one-time codes, optionally bound to an operation.

Passwords, keyed hashes and personal data at rest are `services.kit.security` (the
platform's notifier and mailer need them too).

Import the module: `from services.identity import auth`.
"""
