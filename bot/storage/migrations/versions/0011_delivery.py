"""delivery: the shared send budget, Zalo reply windows and the monthly proactive count

The outbox gains what notices need: `priority` (higher first), `notice_id` (the notice a row
belongs to), `use_quota` (a Zalo row may spend the month's proactive quota) and `reason` (why a
row failed, in a few fixed words the dashboard counts: outside_window, quota_spent, blocked,
cancelled, retries_exhausted, refused, unrenderable). Two partial indexes, so a chat reply (written
already taken, status "sending", notice_id NULL) writes no more index entries than before: the
queue in sending order, and a notice's rows.

`send_budget`: one row per channel, the next free send slot (seconds since the epoch); every
dispatcher reserves its slots there with one atomic UPDATE, so N dispatchers together keep the
channel's rate. `proactive_quota`: Zalo proactive messages spent per month (atomic increment
under the limit).

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    notices = "notices" in sa.inspect(bind).get_table_names()
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(
            sa.Column("priority", sa.SmallInteger(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("notice_id", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("use_quota", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("reason", sa.String(length=40), nullable=True))
        if notices:
            batch.create_foreign_key(
                "fk_outbox_notice", "notices", ["notice_id"], ["id"], ondelete="SET NULL"
            )
    queued = sa.text("status = 'queued'")
    op.create_index(
        "ix_outbox_queue",
        "outbox",
        [sa.text("priority DESC"), "id"],
        postgresql_where=queued,
        sqlite_where=queued,
    )
    noticed = sa.text("notice_id IS NOT NULL")
    op.create_index(
        "ix_outbox_notice",
        "outbox",
        ["notice_id", "status"],
        postgresql_where=noticed,
        sqlite_where=noticed,
    )
    op.create_table(
        "send_budget",
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("next_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("channel"),
    )
    op.create_table(
        "proactive_quota",
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("channel", "month"),
    )


def downgrade() -> None:
    op.drop_table("proactive_quota")
    op.drop_table("send_budget")
    op.drop_index("ix_outbox_notice", "outbox")
    op.drop_index("ix_outbox_queue", "outbox")
    bind = op.get_bind()
    fks = {fk["name"] for fk in sa.inspect(bind).get_foreign_keys("outbox")}
    with op.batch_alter_table("outbox") as batch:
        if "fk_outbox_notice" in fks:
            batch.drop_constraint("fk_outbox_notice", type_="foreignkey")
        batch.drop_column("reason")
        batch.drop_column("use_quota")
        batch.drop_column("notice_id")
        batch.drop_column("priority")
