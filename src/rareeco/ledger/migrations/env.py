"""Alembic environment: runs on the connection handed over by rareeco.ledger.db.upgrade."""

from alembic import context

from rareeco.ledger.models import Base

config = context.config
connection = config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
