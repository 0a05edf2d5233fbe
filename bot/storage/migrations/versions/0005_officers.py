"""officers: users.area_code, invite_codes (hashed one-time codes), invite_attempts (wrong tries)

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("area_code", sa.String(length=200), nullable=True))
    op.create_table(
        "invite_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("hint", sa.String(length=4), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("area_code", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_by", sa.Integer(), nullable=True),
        sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["used_by"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code_hash"),
    )
    op.create_index("ix_invite_codes_used_by", "invite_codes", ["used_by"])
    op.create_table(
        "invite_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("who", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_invite_attempts_who", "invite_attempts", ["who", "at"])


def downgrade() -> None:
    op.drop_index("ix_invite_attempts_who", table_name="invite_attempts")
    op.drop_table("invite_attempts")
    op.drop_index("ix_invite_codes_used_by", table_name="invite_codes")
    op.drop_table("invite_codes")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("area_code")
