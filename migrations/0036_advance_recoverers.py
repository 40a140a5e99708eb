from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields


class Migration(migrations.Migration):
    """One engine for advances (issue 21): the risk reserve or a guarantee company pays
    the holders and recovers later. Existing advances and recovery receipts are the
    reserve's; each advanced installment gets its header row."""

    dependencies = [("models", "0035_collateral")]

    initial = False

    operations = [
        ops.CreateModel(
            name="InstallmentAdvance",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "loan",
                    fields.ForeignKeyField(
                        "models.Loan",
                        source_field="loan_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="installment_advances",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "installment",
                    fields.OneToOneField(
                        "models.LoanInstallment",
                        source_field="installment_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="advance",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("recoverer", fields.CharField(max_length=32)),
                ("principal_fen", fields.BigIntField()),
                ("interest_fen", fields.BigIntField()),
                ("penalty_fen", fields.BigIntField(default=0)),
                ("paid_principal_before_fen", fields.BigIntField()),
                ("paid_interest_before_fen", fields.BigIntField()),
                ("penalty_paid_before_fen", fields.BigIntField(default=0)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "installment_advances",
                "app": "models",
                "pk_attr": "id",
                "table_description": "Someone paid the holders an overdue installment's unpaid parts and is owed them",
            },
            bases=["Model"],
        ),
        ops.AddField(
            model_name="Receipt",
            name="recoverer",
            field=fields.CharField(null=True, max_length=32),
        ),
        ops.AlterModelOptions(
            name="ReserveAdvance",
            options={
                "table": "reserve_advances",
                "app": "models",
                "unique_together": (("installment", "claim"),),
                "pk_attr": "id",
                "table_description": "One claim holder's part of an advanced installment (`InstallmentAdvance`): paid to",
            },
        ),
        ops.AddField(
            model_name="ReserveAdvance",
            name="penalty_fen",
            field=fields.BigIntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name="ReserveAdvance",
            name="recoverer",
            field=fields.CharField(
                default="p:risk_reserve", db_default="p:risk_reserve", max_length=32
            ),
        ),
        ops.RunSQL(
            "UPDATE repayment_receipts SET recoverer = 'p:risk_reserve' WHERE to_reserve",
            reverse_sql="SELECT 1",
        ),
        # The reserve advanced everything then unpaid of principal and interest, and no
        # penalty: what the borrower had paid before is the installment's less the advance.
        ops.RunSQL(
            "INSERT INTO installment_advances (loan_id, installment_id, recoverer,"
            " principal_fen, interest_fen, penalty_fen, paid_principal_before_fen,"
            " paid_interest_before_fen, penalty_paid_before_fen, created_at)"
            " SELECT a.loan_id, a.installment_id, 'p:risk_reserve', SUM(a.principal_fen),"
            " SUM(a.interest_fen), 0, i.principal_fen - SUM(a.principal_fen),"
            " i.interest_fen - SUM(a.interest_fen), 0, MIN(a.created_at)"
            " FROM reserve_advances a JOIN loan_installments i ON i.id = a.installment_id"
            " GROUP BY a.loan_id, a.installment_id, i.principal_fen, i.interest_fen",
            reverse_sql="SELECT 1",
        ),
        # SQLite may make the table again to alter it; the index 0029 made by RunSQL is
        # then not made with it (PostgreSQL alters the table in place).
        ops.RunSQL(
            'CREATE INDEX IF NOT EXISTS "idx_repayment_receipts_to_reserve"'
            ' ON "repayment_receipts" ("created_at") WHERE to_reserve',
            reverse_sql="SELECT 1",
        ),
    ]
