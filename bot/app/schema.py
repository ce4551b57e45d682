"""Every table module, imported so Alembic and `alembic check` see the whole schema."""

from bot.incidents.store import tables as incident_tables  # noqa: F401
from bot.monitoring.store import tables as monitoring_tables  # noqa: F401
from bot.reports.store import tables as report_tables  # noqa: F401
from bot.rollouts.store import tables as rollout_tables  # noqa: F401
from bot.store import tables  # noqa: F401
from bot.store.tables import Base

metadata = Base.metadata
