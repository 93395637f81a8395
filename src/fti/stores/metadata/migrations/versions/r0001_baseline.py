"""Baseline: versioned entities and their records, the schema of every store made before
migrations existed."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None


def upgrade() -> None:
    """Create the entity and record tables."""
    op.create_table(
        "fti_entities",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("project", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("kind", "project", "name", "version", name="uq_entity_version"),
    )
    op.create_table(
        "fti_records",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("entity_id", sa.Integer, sa.ForeignKey("fti_entities.id"), nullable=False),
        sa.Column("record_kind", sa.String(64), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("entity_id", "record_kind", "key", name="uq_record_key"),
    )
    op.create_index("ix_records_entity", "fti_records", ["entity_id", "record_kind"])


def downgrade() -> None:
    """Drop them."""
    op.drop_index("ix_records_entity", "fti_records")
    op.drop_table("fti_records")
    op.drop_table("fti_entities")
