"""Named locks with an expiry (schedulers). Stores made between the locks and the migrations
have the table already (created on first use): it is kept."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"


def upgrade() -> None:
    """Create the lock table unless it exists."""
    if sa.inspect(op.get_bind()).has_table("fti_locks"):
        return
    op.create_table(
        "fti_locks",
        sa.Column("project", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop it."""
    op.drop_table("fti_locks")
