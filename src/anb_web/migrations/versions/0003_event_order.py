"""Event order and worker beats.

A video's worker events are ordered by their place in the pipeline (run, step position,
attempt, phase), not by the clocks of the workers that sent them; each SQS worker's last
beat is kept for ``anb status``.

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
    op.create_table(
        "workers",
        sa.Column("worker_id", sa.String(255), nullable=False),
        sa.Column("queue", sa.String(255), nullable=False),
        sa.Column("last_receive_at", sa.Float(), nullable=True),
        sa.Column("last_beat_at", sa.Float(), nullable=False),
        sa.Column("free_slots", sa.Integer(), nullable=False),
        sa.Column("slots", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("worker_id", name="pk_workers"),
    )
    op.create_index("ix_workers_last_beat_at", "workers", ["last_beat_at"])
    with op.batch_alter_table("videos") as batch:
        batch.add_column(sa.Column("status_order", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("video_steps") as batch:
        batch.add_column(sa.Column("last_event_order", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_index("ix_workers_last_beat_at", table_name="workers")
    op.drop_table("workers")
    with op.batch_alter_table("video_steps") as batch:
        batch.drop_column("last_event_order")
    with op.batch_alter_table("videos") as batch:
        batch.drop_column("status_order")
