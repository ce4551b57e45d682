"""A loopback Kubernetes API server for the offline demo and the tests.

The real kubernetes-asyncio client (and so the bot's real `RolloutController`) talks to it over
HTTP exactly as it talks to a cluster's API server. It is small and honest about what it is:

- `FakeKubeApi` (api.py): an aiohttp server on 127.0.0.1 routing `apps/v1` Deployments and
  ReplicaSets and `v1` Services and ConfigMaps (get, list, patch, status, server-side apply) to a
  `FakeCluster`; it records each request as an RBAC (namespace, verb, resource) triple and can be
  told to fail or hang a route (`fail`, `hang`) to exercise error paths.
- `FakeCluster` (cluster.py): the stored objects, validation (rules.py), JSON/merge patches
  (jsonpatch.py) and resourceVersions.
- `DeploymentControllerSim` (controller.py): what the Deployment controller does, step by step:
  a new ReplicaSet per template change, an old one reused (with a new revision) when a rollback
  restores its template, and the rollout's progress, which advances one step per status read
  (`reads_to_complete`, `reads_to_deadline` for a stalled one), so
  watching a rollout to done takes as many reads as the test or demo chooses and no real time.

It is not a Kubernetes: no scheduler, no pods, no admission webhooks, no watch streams.
"""

from bot.sandbox.kubernetes.api import FakeKubeApi, Fault, Recorder, Served
from bot.sandbox.kubernetes.cluster import FakeCluster

__all__ = ["FakeCluster", "FakeKubeApi", "Fault", "Recorder", "Served"]
