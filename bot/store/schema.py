"""Every table module, imported so Alembic and `alembic check` see the whole schema."""

from bot.store import (  # noqa: F401
    incident_tables,
    monitoring_tables,
    rollout_tables,
    tables,
)
from bot.store.tables import Base

metadata = Base.metadata
