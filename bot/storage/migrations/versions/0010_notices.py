"""notices, their targets and RSVP answers; subscription areas, topics and roles

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_when = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Subscribers choose an area and topics (None: not said / every topic). Officers are
    # reached by their role (users.role, users.area_code): no column needed.
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(sa.Column("area_code", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("topics", sa.String(length=400), nullable=True))
    op.create_table(
        "notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.JSON(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("audio", sa.JSON(), nullable=True),
        sa.Column("photo", sa.String(length=300), nullable=True),
        sa.Column("document", sa.String(length=300), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("event_at", _when, nullable=True),
        sa.Column("topics", sa.JSON(), nullable=False),
        sa.Column("areas", sa.JSON(), nullable=False),
        sa.Column("langs", sa.JSON(), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("rsvp", sa.Boolean(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("use_quota", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("send_at", _when, nullable=False),
        sa.Column("created_at", _when, nullable=False),
        sa.Column("cancelled_at", _when, nullable=True),
        sa.Column("finished_at", _when, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_notices_status", "notices", ["status", "send_at"])
    op.create_table(
        "notice_rsvps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("answer", sa.String(length=8), nullable=False),
        sa.Column("answered_at", _when, nullable=False),
        sa.Column("reminded_at", _when, nullable=True),
        sa.ForeignKeyConstraint(["notice_id"], ["notices.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("notice_id", "user_id", name="uq_notice_rsvps_notice_user"),
    )
    op.create_index("ix_notice_rsvps_answer", "notice_rsvps", ["notice_id", "answer"])
    op.create_index("ix_notice_rsvps_user_id", "notice_rsvps", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_notice_rsvps_user_id", table_name="notice_rsvps")
    op.drop_index("ix_notice_rsvps_answer", table_name="notice_rsvps")
    op.drop_table("notice_rsvps")
    op.drop_index("ix_notices_status", table_name="notices")
    op.drop_table("notices")
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("topics")
        batch.drop_column("area_code")
