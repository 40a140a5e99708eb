"""`python -m app backup-check` (scripts/backup-check): a measured backup and recovery drill.

    python -m app backup-check [--sqlite] [--tamper] [--no-base-backup]
        [--template DATABASE_URL]

On a scratch platform of its own (PostgreSQL database `lendbridge_backup_<run id>` on
BACKUP_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432; with `--sqlite` a
temporary SQLite file; in both cases the sandbox provider's books and the file storage
in a temporary directory, the in-process broker): migrate, seed the demo data
(services/demo.py, as scripts/start does), then move money through GraphQL (a bid, a
repayment, a withdrawal, each confirmed with its SMS code), so the ledger, the operation
log and the provider's books have content. Then:

1. check the source (ledger, operation-log chain, reconciliation with the provider) and
   count its rows;
2. back up, online: the database (`pg_dump --format=custom`, or SQLite's online backup
   API), the provider's books (the same API) and the stored files (tar); on PostgreSQL
   also try `pg_basebackup` of the cluster and report its time or why it could not run;
3. destroy: drop the database (delete the file), delete the books and the files;
4. restore into a NEW database (file), books and directory, start the platform on them
   and check: row counts per table, balances and file hashes as before, and the same
   three checks clean.

With `--tamper` it then shows that the checks catch a bad restore: a ledger posting and
an operation-log entry edited (the ledger and the chain fail); the provider's books
restored from a copy taken before the GraphQL movements (reconciliation:
MISSING_AT_PROVIDER); the platform's database from that earlier point with the current
books, as after a point-in-time recovery while the provider went on (reconciliation:
MISSING_AT_PLATFORM). Prints the timings and, last, one JSON line. Exit 0 when the
restore is whole (and with --tamper every corruption was caught), 1 otherwise, 2 on bad
input. Everything it made is removed afterwards. `--template` starts from a copy of an
already migrated database (copied with the same tools; only read) instead of migrating:
the tests use their run's database. It never reads DATABASE_URL.
"""

from app.backup_check.command import main

__all__ = ["main"]
