"""handoffs: a villager's conversation with a person, and content-gap groups' editor marks

Also the overview's counts: `turn_counts` (messages a day by channel, language and outcome,
counted in each turn) and the indexes its per-day queries on reports and feedback use.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_when = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "handoffs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("area_code", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("opened_at", _when, nullable=False),
        sa.Column("last_message_at", _when, nullable=False),
        sa.Column("last_villager_at", _when, nullable=True),
        sa.Column("answered_at", _when, nullable=True),
        sa.Column("closed_at", _when, nullable=True),
        sa.Column("closed_by", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_handoffs_status_last", "handoffs", ["status", "last_message_at"])
    op.create_index("ix_handoffs_user", "handoffs", ["user_id", "status"])
    op.create_table(
        "handoff_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("handoff_id", sa.Integer(), nullable=False),
        sa.Column("sender", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("staff_name", sa.String(length=64), nullable=True),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("at", _when, nullable=False),
        sa.ForeignKeyConstraint(["handoff_id"], ["handoffs.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_accounts.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_handoff_messages_handoff", "handoff_messages", ["handoff_id", "id"])
    op.create_index("ix_handoff_messages_at", "handoff_messages", ["at"])
    with op.batch_alter_table("content_gaps") as batch:
        batch.add_column(sa.Column("resolution", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("resolved_item", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("resolved_at", _when, nullable=True))
    op.create_index("ix_content_gaps_last_seen", "content_gaps", ["last_seen"])
    op.create_table(
        "turn_counts",
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "channel", "lang", "outcome", "shard"),
    )
    op.create_index("ix_reports_created", "reports", ["created_at"])
    op.create_index("ix_feedback_created", "feedback", ["created_at", "status"])


def downgrade() -> None:
    op.drop_index("ix_feedback_created", table_name="feedback")
    op.drop_index("ix_reports_created", table_name="reports")
    op.drop_table("turn_counts")
    op.drop_index("ix_content_gaps_last_seen", table_name="content_gaps")
    with op.batch_alter_table("content_gaps") as batch:
        batch.drop_column("resolved_at")
        batch.drop_column("resolved_item")
        batch.drop_column("resolution")
    op.drop_table("handoff_messages")
    op.drop_table("handoffs")
