"""report review (checked / sent back) and feedback assignment and due dates

Reports get a review state (pending, checked, sent_back), its comment, who reviewed and when;
report_history rows of a review name the staff account. Feedback gets the staff account it is
assigned to and the area it concerns (a commune account sees its area's); feedback_events the
staff account that made them. Overdue is not stored: it is computed from `created_at` and
`feedback.overdue_days`, so changing the setting applies at once.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_when = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.add_column(
            sa.Column("review", sa.String(length=16), nullable=False, server_default="pending")
        )
        batch.add_column(sa.Column("review_comment", sa.Text(), nullable=True))
        batch.add_column(sa.Column("reviewed_by", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("reviewed_at", _when, nullable=True))
        batch.create_foreign_key(
            "fk_reports_reviewed_by", "staff_accounts", ["reviewed_by"], ["id"], ondelete="SET NULL"
        )
    op.create_index("ix_reports_review", "reports", ["review", "created_at"])
    for column in ("value", "period", "indicator"):  # the page's sorts, unfiltered
        op.create_index(f"ix_reports_{column}", "reports", [column])
    with op.batch_alter_table("report_history") as batch:
        batch.add_column(sa.Column("changed_by_staff", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_report_history_staff",
            "staff_accounts",
            ["changed_by_staff"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("feedback") as batch:
        batch.add_column(sa.Column("assigned_to", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("assigned_at", _when, nullable=True))
        batch.add_column(sa.Column("area_code", sa.String(length=200), nullable=True))
        batch.create_foreign_key(
            "fk_feedback_assigned_to",
            "staff_accounts",
            ["assigned_to"],
            ["id"],
            ondelete="SET NULL",
        )
    op.create_index("ix_feedback_assigned", "feedback", ["assigned_to", "created_at"])
    op.create_index(
        "ix_feedback_area",
        "feedback",
        ["area_code", "created_at"],
        postgresql_ops={"area_code": "varchar_pattern_ops"},
    )
    with op.batch_alter_table("feedback_events") as batch:
        batch.add_column(sa.Column("staff_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_feedback_events_staff", "staff_accounts", ["staff_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("feedback_events") as batch:
        batch.drop_constraint("fk_feedback_events_staff", type_="foreignkey")
        batch.drop_column("staff_id")
    op.drop_index("ix_feedback_area", table_name="feedback")
    op.drop_index("ix_feedback_assigned", table_name="feedback")
    with op.batch_alter_table("feedback") as batch:
        batch.drop_constraint("fk_feedback_assigned_to", type_="foreignkey")
        batch.drop_column("area_code")
        batch.drop_column("assigned_at")
        batch.drop_column("assigned_to")
    with op.batch_alter_table("report_history") as batch:
        batch.drop_constraint("fk_report_history_staff", type_="foreignkey")
        batch.drop_column("changed_by_staff")
    for column in ("indicator", "period", "value"):
        op.drop_index(f"ix_reports_{column}", table_name="reports")
    op.drop_index("ix_reports_review", table_name="reports")
    with op.batch_alter_table("reports") as batch:
        batch.drop_constraint("fk_reports_reviewed_by", type_="foreignkey")
        batch.drop_column("reviewed_at")
        batch.drop_column("reviewed_by")
        batch.drop_column("review_comment")
        batch.drop_column("review")
