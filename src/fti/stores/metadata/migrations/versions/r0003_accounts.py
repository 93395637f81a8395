"""Accounts of fti server: users, projects, members, API keys, the audit log."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"


def upgrade() -> None:
    """Create the account tables."""
    op.create_table(
        "fti_users",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("is_admin", sa.Boolean, nullable=False),
        sa.Column("is_service", sa.Boolean, nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "fti_projects",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("created_by", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "fti_members",
        sa.Column("project", sa.String(64), sa.ForeignKey("fti_projects.name"), primary_key=True),
        sa.Column("user_name", sa.String(64), sa.ForeignKey("fti_users.name"), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
    )
    op.create_index("ix_members_user", "fti_members", ["user_name"])
    op.create_table(
        "fti_api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("user_name", sa.String(64), sa.ForeignKey("fti_users.name"), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("label", sa.String(255), nullable=False),
        sa.Column("project", sa.String(64), nullable=True),
        sa.Column("read_only", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_api_keys_user", "fti_api_keys", ["user_name"])
    op.create_table(
        "fti_audit",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_name", sa.String(64), nullable=True),
        sa.Column("key_id", sa.String(32), nullable=True),
        sa.Column("project", sa.String(64), nullable=True),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("route", sa.String(512), nullable=False),
        sa.Column("path", sa.String(2048), nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("remote", sa.String(255), nullable=True),
    )
    op.create_index("ix_audit_project", "fti_audit", ["project", "id"])


def downgrade() -> None:
    """Drop them."""
    op.drop_table("fti_audit")
    op.drop_table("fti_api_keys")
    op.drop_table("fti_members")
    op.drop_table("fti_projects")
    op.drop_table("fti_users")
