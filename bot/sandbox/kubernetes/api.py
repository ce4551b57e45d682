"""A loopback fake Kubernetes API server for the real kubernetes-asyncio client.

It serves Deployments (get, list, patch, status), ReplicaSets (get, list), Services and
ConfigMaps (get, list, patch incl. server-side apply) from a `FakeCluster`, records every
request as an RBAC (namespace, verb, resource) triple, and can be told to fail or hang.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.sandbox.kubernetes.cluster import KINDS, ApiError, FakeCluster
from bot.sandbox.site import LoopbackSite

ROUTE = re.compile(
    r"^/(?:apis/apps/v1|api/v1)/namespaces/(?P<ns>[^/]+)/(?P<resource>[a-z]+)"
    r"(?:/(?P<name>[^/]+))?(?:/(?P<sub>status))?$"
)
GROUPS = {"deployments": "apps", "replicasets": "apps", "services": "", "configmaps": ""}
VERBS = {"PATCH": "patch", "POST": "create", "PUT": "update", "DELETE": "delete"}


@dataclass(frozen=True)
class Served:
    """Describe one request the fake answered."""

    method: str
    path: str
    namespace: str
    verb: str
    resource: str
    name: str
    content_type: str
    query: dict[str, str]
    body: bytes
    status: int
    authorization: str


@dataclass
class Fault:
    """Fail or hang matching requests: let `skip` pass, then act `times` times (None: forever).

    With `after_apply` the request takes effect first and only its answer is the error, as
    when a response is lost after the API server committed the change.
    """

    method: str
    path: str
    status: int | None = None
    message: str = "injected failure"
    times: int | None = 1
    skip: int = 0
    after_apply: bool = False
    release: asyncio.Event | None = None
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    hits: int = 0

    def take(self, method: str, path: str) -> bool:
        """Return True if this fault acts on the request now (and count the use)."""
        if method != self.method or not fnmatch.fnmatchcase(path, self.path):
            return False
        if self.skip > 0:
            self.skip -= 1
            return False
        if self.times is not None:
            if self.times <= 0:
                return False
            self.times -= 1
        self.hits += 1
        self.entered.set()
        return True


@dataclass
class Recorder:
    """Collect the RBAC triples (namespace, verb, resource) the bot's requests needed."""

    used: set[tuple[str, str, str]] = field(default_factory=set)

    def add(self, namespace: str, verb: str, resource: str) -> None:
        """Record one use."""
        self.used.add((namespace, verb, resource))


class FakeKubeApi:
    """Serve a FakeCluster over HTTP on 127.0.0.1 at a random free port."""

    def __init__(
        self, cluster: FakeCluster | None = None, *, recorders: tuple[Recorder, ...] = ()
    ) -> None:
        self.cluster = cluster or FakeCluster()
        self.recorders = (Recorder(), *recorders)
        self.served: list[Served] = []
        self.unrouted: list[str] = []
        self._faults: list[Fault] = []
        self._site: LoopbackSite | None = None
        self._closing = False
        self.host = ""

    @property
    def used(self) -> set[tuple[str, str, str]]:
        """Return the RBAC triples this server saw."""
        return self.recorders[0].used

    async def start(self) -> str:
        """Start listening on a free loopback port; return the base URL."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._site = LoopbackSite(app, shutdown_timeout=1.0)
        self.host = await self._site.start()
        return self.host

    async def close(self) -> None:
        """Release hung requests and stop the server."""
        self._closing = True
        for fault in self._faults:
            if fault.release is not None:
                fault.release.set()
        if self._site is not None:
            await self._site.stop()

    def fail(
        self,
        method: str,
        path: str,
        status: int,
        *,
        times: int | None = 1,
        skip: int = 0,
        after_apply: bool = False,
        message: str | None = None,
    ) -> Fault:
        """Answer matching requests with `status` (e.g. 403, 404, 409, 500)."""
        fault = Fault(
            method.upper(),
            path,
            status,
            message or f"injected HTTP {status}",
            times,
            skip,
            after_apply,
        )
        self._faults.append(fault)
        return fault

    def hang(self, method: str, path: str, *, times: int | None = 1) -> Fault:
        """Hold matching requests until `fault.release` is set (or the server closes)."""
        fault = Fault(method.upper(), path, None, times=times, release=asyncio.Event())
        self._faults.append(fault)
        return fault

    def requests(self, method: str | None = None, resource: str | None = None) -> list[Served]:
        """Return served requests, filtered by HTTP method and/or resource."""
        return [
            s
            for s in self.served
            if (method is None or s.method == method)
            and (resource is None or s.resource == resource)
        ]

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        match = ROUTE.match(request.path)
        if match is None or match["resource"] not in KINDS:
            self.unrouted.append(f"{request.method} {request.path_qs}")
            return _status(404, "NotFound", f"fake API: no route for {request.path}")
        ns, resource, name = match["ns"], match["resource"], match["name"] or ""
        verb = VERBS.get(request.method)
        if request.method == "GET":
            verb = "watch" if request.query.get("watch") == "true" else ("get" if name else "list")
        rbac_resource = resource + ("/status" if match["sub"] else "")
        for recorder in self.recorders:
            recorder.add(ns, verb or request.method.lower(), rbac_resource)
        response = await self._respond(request, ns, resource, name, body)
        if response.status == 201:
            # Creating through an apply PATCH is authorized as "create" too, like the API server.
            for recorder in self.recorders:
                recorder.add(ns, "create", rbac_resource)
        self.served.append(
            Served(
                request.method,
                request.path,
                ns,
                verb or "",
                rbac_resource,
                name,
                request.content_type,
                dict(request.query),
                body,
                response.status,
                request.headers.get("Authorization", ""),
            )
        )
        return response

    async def _respond(
        self, request: web.Request, ns: str, resource: str, name: str, body: bytes
    ) -> web.Response:
        fault = next((f for f in self._faults if f.take(request.method, request.path)), None)
        if fault is not None and fault.release is not None:
            await fault.release.wait()
            fault = None
        if fault is not None and not fault.after_apply:
            return _fault_response(fault)
        if self._closing:
            return _status(503, "ServiceUnavailable", "fake API server shutting down")
        try:
            obj, code = self._operate(request, ns, resource, name, body)
        except ApiError as err:
            return _status(err.status, err.reason, err.message)
        if fault is not None:
            return _fault_response(fault)
        return web.json_response(obj, status=code)

    def _operate(
        self, request: web.Request, ns: str, resource: str, name: str, body: bytes
    ) -> tuple[dict[str, Any], int]:
        if request.method == "GET" and name:
            return self.cluster.read(resource, ns, name), 200
        if request.method == "GET":
            return self.cluster.list(resource, ns, request.query.get("labelSelector")), 200
        if request.method == "PATCH" and name:
            obj, created = self.cluster.patch(
                resource, ns, name, request.content_type, body, dict(request.query)
            )
            return obj, 201 if created else 200
        raise ApiError(
            405, "MethodNotAllowed", f"fake API: {request.method} {request.path} is not implemented"
        )


def _fault_response(fault: Fault) -> web.Response:
    code = fault.status or 500
    reason = {403: "Forbidden", 404: "NotFound", 409: "Conflict"}.get(code, "InternalError")
    return _status(code, reason, fault.message)


def _status(code: int, reason: str, message: str) -> web.Response:
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    return web.Response(status=code, text=json.dumps(body), content_type="application/json")


def rbac_group(resource: str) -> str:
    """Return the API group of a (sub)resource, as RBAC rules name it."""
    return GROUPS[resource.split("/", 1)[0]]
