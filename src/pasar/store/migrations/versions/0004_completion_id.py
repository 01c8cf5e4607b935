"""messages.completion_id: the chat completion an answer belongs to

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 16:30:00

An answer's completion was written into its id (choice i > 0 of ``chatcmpl-x`` was
``chatcmpl-x.i``). It is a column now, beside ``choice``: further choices get ids of their own,
and feedback finds a choice by (completion, choice). Answers stored before keep their ids; their
completion is read off them here.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

messages = sa.table(
    "messages",
    sa.column("id", sa.String),
    sa.column("role", sa.String),
    sa.column("choice", sa.Integer),
    sa.column("completion_id", sa.String),
)


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("completion_id", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_messages_completion_id", ["completion_id"], unique=False)
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(messages.c.id, messages.c.choice).where(messages.c.role == "assistant")
    ).all()
    for message_id, choice in rows:
        completion = message_id.rpartition(".")[0] if choice else message_id
        connection.execute(
            messages.update()
            .where(messages.c.id == message_id)
            .values(completion_id=completion or message_id)
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_completion_id")
        batch_op.drop_column("completion_id")
