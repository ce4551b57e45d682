"""Every table module, imported so Alembic and `alembic check` see the whole schema."""

from bot.store import rollout_tables, tables  # noqa: F401
from bot.store import incident_tables  # noqa: F401
from bot.store import monitoring_tables  # noqa: F401
from bot.store.tables import Base

metadata = Base.metadata
