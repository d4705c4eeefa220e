"""The initial schema: users, videos, video_steps, votes.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("username", sa.String(32), nullable=False),
        sa.Column("username_key", sa.String(32), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("email_key", sa.String(254), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("first_name", sa.String(100), nullable=True),
        sa.Column("last_name", sa.String(100), nullable=True),
        sa.Column("city", sa.String(100), nullable=True),
        sa.Column("city_key", sa.String(100), nullable=True),
        sa.Column("country", sa.String(100), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("username_key", name="uq_users_username_key"),
        sa.UniqueConstraint("email_key", name="uq_users_email_key"),
    )
    op.create_index("ix_users_city_key", "users", ["city_key"])
    op.create_table(
        "videos",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source_key", sa.String(255), nullable=False),
        sa.Column("output_key", sa.String(255), nullable=True),
        sa.Column("poster_key", sa.String(255), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("processed_at", sa.DateTime(), nullable=True),
        sa.Column("status_at", sa.Float(), nullable=True),
        sa.Column("error_step", sa.String(64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'processing', 'processed', 'failed')",
            name="ck_videos_status",
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_videos_user_id_users",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("seq", name="pk_videos"),
        sa.UniqueConstraint("id", name="uq_videos_id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_videos_user_id_created_at_seq", "videos",
                    ["user_id", "created_at", "seq"])
    op.create_index("ix_videos_status_created_at_seq", "videos",
                    ["status", "created_at", "seq"])
    op.create_table(
        "video_steps",
        sa.Column("video_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("last_event_at", sa.Float(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'succeeded', 'failed')",
            name="ck_video_steps_status",
        ),
        sa.ForeignKeyConstraint(["video_id"], ["videos.id"],
                                name="fk_video_steps_video_id_videos", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("video_id", "name", name="pk_video_steps"),
    )
    op.create_table(
        "votes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("video_id", sa.String(36), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_votes_user_id_users",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["video_id"], ["videos.id"], name="fk_votes_video_id_videos",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_votes"),
        sa.UniqueConstraint("user_id", "video_id", name="uq_votes_user_id_video_id"),
    )
    op.create_index("ix_votes_video_id", "votes", ["video_id"])


def downgrade() -> None:
    op.drop_table("votes")
    op.drop_table("video_steps")
    op.drop_table("videos")
    op.drop_table("users")
