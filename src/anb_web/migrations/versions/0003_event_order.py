"""Event order: a video's worker events are ordered by their place in the pipeline
(run, step position, attempt, phase), not by the clocks of the workers that sent them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("videos") as batch:
        batch.add_column(sa.Column("status_order", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("video_steps") as batch:
        batch.add_column(sa.Column("last_event_order", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("video_steps") as batch:
        batch.drop_column("last_event_order")
    with op.batch_alter_table("videos") as batch:
        batch.drop_column("status_order")
