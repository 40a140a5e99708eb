"""Platform rules every domain leans on: time, parameters, the operation log, events
and messages. Depends on `services.kit` only.

- `clock`: `now()`, `today()`, `advance()` — the business clock.
- `parameters`: `get()`, `all_params()`, `list_values()`, `set_value()`, `history()`.
- `oplog`: `append()`, `verify()`, `list_entries()` — the chained operation log.
- `outbox`: `enqueue()`, `register_handler()`, `dispatch_once()`, `run_dispatcher()`.
- `notices`: `list_for()`, `stream_for()` — in-app notices.
- `notifier`: `send_sms()`, `send_email()`, `notify()`, `install_sms_gateway()`.
- `mailer`: `get_mailer()`, `set_mailer()`, `new_message()`, `email_address()`.

Import the module: `from services.platform import clock`.
"""
