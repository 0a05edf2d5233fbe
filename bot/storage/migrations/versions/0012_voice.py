"""translators, recordings and translated texts per item and UI phrase, and their review

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_when = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("invite_codes") as batch:
        batch.add_column(sa.Column("lang", sa.String(length=8), nullable=True))
    op.create_table(
        "translators",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("label", sa.String(length=40), nullable=False),
        sa.Column("invite_id", sa.Integer(), nullable=True),
        sa.Column("joined_at", _when, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "lang", name="uq_translators_user_lang"),
    )
    op.create_index("ix_translators_user_id", "translators", ["user_id"])
    op.create_table(
        "recordings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("audio", sa.String(length=64), nullable=True),
        sa.Column("original_ext", sa.String(length=8), nullable=True),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("made_by", sa.Integer(), nullable=True),
        sa.Column("made_by_label", sa.String(length=40), nullable=False),
        sa.Column("created_at", _when, nullable=False),
        sa.Column("updated_at", _when, nullable=False),
        sa.Column("reviewed_by", sa.Integer(), nullable=True),
        sa.Column("reviewed_label", sa.String(length=40), nullable=True),
        sa.Column("reviewed_at", _when, nullable=True),
        sa.ForeignKeyConstraint(["made_by"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["reviewed_by"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_recordings_lang_key", "recordings", ["lang", "kind", "key", "status"])
    op.create_index("ix_recordings_status", "recordings", ["status", "lang", "created_at"])
    op.create_index("ix_recordings_made_by", "recordings", ["made_by"])
    op.create_table(
        "answer_counts",
        sa.Column("item_id", sa.String(length=100), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("last_at", _when, nullable=False),
        sa.PrimaryKeyConstraint("item_id", "lang"),
    )


def downgrade() -> None:
    op.drop_table("answer_counts")
    op.drop_index("ix_recordings_made_by", table_name="recordings")
    op.drop_index("ix_recordings_status", table_name="recordings")
    op.drop_index("ix_recordings_lang_key", table_name="recordings")
    op.drop_table("recordings")
    op.drop_index("ix_translators_user_id", table_name="translators")
    op.drop_table("translators")
    with op.batch_alter_table("invite_codes") as batch:
        batch.drop_column("lang")
