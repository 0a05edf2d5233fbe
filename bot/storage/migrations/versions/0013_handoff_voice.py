"""handoff_messages.media_ref: a villager's voice message passed on to staff (the bot does not
understand speech; a person listens)

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("handoff_messages") as batch:
        batch.add_column(sa.Column("media_ref", sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("handoff_messages") as batch:
        batch.drop_column("media_ref")
