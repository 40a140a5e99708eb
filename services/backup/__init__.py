"""Backup and recovery (D3): taking and restoring copies of the platform's three stores,
and the checks that prove a restored platform whole.

The stores, and how each is copied (docs/backup.md has the production procedure):

- the platform's database: PostgreSQL with `pg_dump --format=custom` (logical; a base
  backup + WAL archive in production), or the embedded SQLite file with SQLite's online
  backup API;
- the sandbox provider's books (SANDBOX_DATABASE, an SQLite file of its own, never the
  platform's database): the online backup API;
- the uploaded files and contract PDFs (STORAGE_DIR): a tar archive.

`dumps` copies and restores them; `checks` counts what a store holds and verifies a
restored platform: the ledger balances, the operation log's hash chain holds and the
provider's books reconcile with the ledger. `python -m app backup-check`
(app/backup_check/) runs the whole drill on a seeded scratch platform.
"""
