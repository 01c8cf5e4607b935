"""The store: SQLAlchemy models, Alembic migrations and the functions that read and write them.

Interaction log (this package today): conversations, messages with their model, sampling and
token counts, feedback, API keys. Store functions are keyword-only and own every commit; they
hold no business logic.
"""
