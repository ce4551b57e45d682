"""`releasebot demo`: the whole mission on a simulated Discord (SimCord), offline, scripted.

The real bot (`create_bot`, every extension, the real services, SQLite with the migrations)
runs unmodified against SimCord. Around it, two loopback sandboxes speak real protocols: a
Kubernetes API server (`bot.sandbox.kubernetes`) that the kubernetes-asyncio client deploys
and rolls back against, and a Prometheus instant-query endpoint (`bot.sandbox.metrics`) that the
real Prometheus probe polls over HTTP. Only time is virtual.

`team.py` is the team and the release room they work in; `mission.py` the two scenarios
(a release rolled back after an error-rate breach, then a healthy hotfix kept for 24 hours) and
the checks that each expected step really shows in the simulated Discord or the database;
`serve.py` keeps the server alive in SimCord's local browser preview (`--serve`).
"""

from bot.demo.mission import SCENARIOS, run_demo
from bot.demo.team import demo_settings

__all__ = ["SCENARIOS", "demo_settings", "run_demo"]
