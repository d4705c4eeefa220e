"""The shared login-failure log, upload idempotency keys, and NFC email keys.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import logging
import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

logger = logging.getLogger("alembic.runtime.migration")


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("failed_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_login_failures"),
    )
    op.create_index("ix_login_failures_key_failed_at", "login_failures", ["key", "failed_at"])
    op.create_index("ix_login_failures_failed_at", "login_failures", ["failed_at"])
    op.create_table(
        "idempotency_keys",
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("video_id", sa.String(36), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name="fk_idempotency_keys_user_id_users"),
        sa.ForeignKeyConstraint(["video_id"], ["videos.id"], ondelete="CASCADE",
                                name="fk_idempotency_keys_video_id_videos"),
        sa.PrimaryKeyConstraint("user_id", "key", name="pk_idempotency_keys"),
    )
    op.create_index("ix_idempotency_keys_video_id", "idempotency_keys", ["video_id"])
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])
    _renormalize_email_keys()


def _renormalize_email_keys() -> None:
    """Email keys were lower() of the address as typed; they are now lower() of its NFC
    form. Only non-NFC addresses change; one that would collide with an existing key (the
    same address signed up twice before this fix) keeps its old key and is logged."""
    users = sa.table("users", sa.column("id", sa.String), sa.column("email", sa.String),
                     sa.column("email_key", sa.String))
    bind = op.get_bind()
    rows = bind.execute(sa.select(users.c.id, users.c.email, users.c.email_key)).all()
    taken = {row.email_key for row in rows}
    for row in rows:
        key = unicodedata.normalize("NFC", row.email).lower()
        if key == row.email_key:
            continue
        if key in taken:
            logger.warning("users.id=%s keeps its email key: its NFC form is taken", row.id)
            continue
        bind.execute(sa.update(users).where(users.c.id == row.id).values(email_key=key))
        taken.add(key)


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")
    op.drop_index("ix_idempotency_keys_video_id", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    op.drop_index("ix_login_failures_failed_at", table_name="login_failures")
    op.drop_index("ix_login_failures_key_failed_at", table_name="login_failures")
    op.drop_table("login_failures")
