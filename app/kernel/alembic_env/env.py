"""The one Alembic environment every module's history runs in.

`app.kernel.migrations` passes the module's connection, metadata and version table in
`config.attributes`; each module keeps only its own revision files.
"""

from alembic import context

from app.kernel.migrations import configure_migration_context

configure_migration_context()
with context.begin_transaction():
    context.run_migrations()
