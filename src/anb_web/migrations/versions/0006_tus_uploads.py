"""Resumable (tus) uploads: their state, shared by every web instance.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tus_uploads",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("length_bytes", sa.BigInteger(), nullable=False),
        sa.Column("offset_bytes", sa.BigInteger(), nullable=False),
        sa.Column("part_bytes", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("filename", sa.String(255), nullable=True),
        sa.Column("storage_key", sa.String(255), nullable=False),
        sa.Column("multipart_id", sa.String(1024), nullable=True),
        sa.Column("parts", sa.Text(), nullable=False),
        sa.Column("tail_key", sa.String(255), nullable=True),
        sa.Column("tail_bytes", sa.BigInteger(), nullable=False),
        sa.Column("lease_token", sa.String(32), nullable=True),
        sa.Column("video_id", sa.String(36), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name="fk_tus_uploads_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_tus_uploads"),
    )
    op.create_index("ix_tus_uploads_user_id", "tus_uploads", ["user_id"])
    op.create_index("ix_tus_uploads_expires_at", "tus_uploads", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_tus_uploads_expires_at", table_name="tus_uploads")
    op.drop_index("ix_tus_uploads_user_id", table_name="tus_uploads")
    op.drop_table("tus_uploads")
