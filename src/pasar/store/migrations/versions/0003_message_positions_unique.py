"""message positions unique per conversation

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 17:30:00

Adds ``messages.choice`` (the index of a choice among a completion's ``n``; choices share a
position) and makes (conversation, position, choice) unique. A store written before this,
where concurrent requests put two messages in one position, is renumbered first: within each
such conversation, first choices in (position, time, id) order, each further choice at its first
choice's new position.
"""

from collections import defaultdict

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

messages = sa.table(
    "messages",
    sa.column("id", sa.String),
    sa.column("conversation_id", sa.String),
    sa.column("position", sa.Integer),
    sa.column("choice", sa.Integer),
    sa.column("created_at", sa.DateTime),
)


def choice_of(message_id: str) -> int:
    """Choice i > 0 of a completion is stored as ``<completion id>.<i>``."""
    head, _, tail = message_id.rpartition(".")
    return int(tail) if head and tail.isdigit() else 0


def renumber(connection: sa.Connection) -> None:
    for (message_id,) in connection.execute(
        sa.select(messages.c.id).where(messages.c.id.like("%.%"))
    ):
        if choice := choice_of(message_id):
            connection.execute(
                messages.update().where(messages.c.id == message_id).values(choice=choice)
            )
    crowded = connection.execute(
        sa.select(messages.c.conversation_id)
        .group_by(messages.c.conversation_id, messages.c.position, messages.c.choice)
        .having(sa.func.count() > 1)
        .distinct()
    ).scalars()
    for conversation_id in list(crowded):
        rows = connection.execute(
            sa.select(messages.c.id, messages.c.choice)
            .where(messages.c.conversation_id == conversation_id)
            .order_by(messages.c.position, messages.c.created_at, messages.c.id)
        ).all()
        new: dict[str, int] = {}
        further: defaultdict[int, list[str]] = defaultdict(list)
        position = -1
        for message_id, choice in rows:
            if choice == 0:
                position += 1
                new[message_id] = position
            else:
                first = new.get(message_id.rpartition(".")[0])
                new[message_id] = first if first is not None else max(position, 0)
                further[new[message_id]].append(message_id)
        for ids in further.values():  # further choices sharing a place: numbered 1, 2, …
            for i, message_id in enumerate(sorted(ids), start=1):
                connection.execute(
                    messages.update().where(messages.c.id == message_id).values(choice=i)
                )
        for message_id, position in new.items():
            connection.execute(
                messages.update().where(messages.c.id == message_id).values(position=position)
            )


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("choice", sa.Integer(), server_default="0", nullable=False))
    renumber(op.get_bind())
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_conversation_position")
        batch_op.create_index(
            "uq_messages_conversation_position_choice",
            ["conversation_id", "position", "choice"],
            unique=True,
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("uq_messages_conversation_position_choice")
        batch_op.create_index(
            "ix_messages_conversation_position", ["conversation_id", "position"], unique=False
        )
        batch_op.drop_column("choice")
