"""An httpx transport that sends through aiohttp, for polls with many concurrent probes.

httpcore 1.x (httpx's default transport) assigns pooled connections in a pass that is
quadratic in queued requests x connections (upstream: encode/httpx#3215, encode/httpcore
#1035): 200 concurrent probes to one Prometheus took seconds of CPU instead of ~one round
trip (see bench/bench_probes.py). aiohttp, already installed with discord.py, pools well.
Probes keep the httpx API; only the client they are given changes.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import httpx

DEFAULT_CONNECTION_LIMIT = 200


def _client_timeout(extensions: dict[str, Any]) -> aiohttp.ClientTimeout:
    timeout = extensions.get("timeout", {})
    pool, connect, read = timeout.get("pool"), timeout.get("connect"), timeout.get("read")
    # httpx's pool wait plus connect together are aiohttp's "connect" (waiting for a slot too).
    total_connect = None if pool is None or connect is None else pool + connect
    return aiohttp.ClientTimeout(
        total=None, connect=total_connect, sock_connect=connect, sock_read=read
    )


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Send httpx requests through one aiohttp session; map failures to httpx exceptions."""

    def __init__(self, limit: int = DEFAULT_CONNECTION_LIMIT) -> None:
        """Create the transport; the aiohttp session opens on first use, inside the loop."""
        if limit < 1:
            raise ValueError(f"connection limit must be >= 1, got {limit}")
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None

    def _open_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._limit, limit_per_host=self._limit)
            # httpx decodes Content-Encoding itself from the headers we pass through.
            self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar()
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send `request` and return the whole response (probe bodies are small)."""
        session = self._open_session()
        body = await request.aread()
        try:
            async with session.request(
                request.method,
                str(request.url),
                headers=list(request.headers.multi_items()),
                data=body or None,
                allow_redirects=False,
                timeout=_client_timeout(request.extensions),
            ) as response:
                content = await response.read()
                headers = [
                    (k.decode("latin-1"), v.decode("latin-1")) for k, v in response.raw_headers
                ]
                status = response.status
        except aiohttp.ConnectionTimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc) or "connect timed out", request=request) from exc
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise httpx.ReadTimeout(str(exc) or "read timed out", request=request) from exc
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        except aiohttp.InvalidURL as exc:
            raise httpx.UnsupportedProtocol(str(exc), request=request) from exc
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError) as exc:
            raise httpx.RemoteProtocolError(str(exc), request=request) from exc
        except aiohttp.ClientError as exc:
            raise httpx.NetworkError(f"{type(exc).__name__}: {exc}", request=request) from exc
        return httpx.Response(status, headers=headers, content=content, request=request)

    async def aclose(self) -> None:
        """Close the aiohttp session."""
        if self._session is not None:
            await self._session.close()
            self._session = None


def probe_client(limit: int = DEFAULT_CONNECTION_LIMIT, **kwargs: Any) -> httpx.AsyncClient:
    """Return an httpx client for probes, sending through aiohttp with `limit` connections."""
    return httpx.AsyncClient(transport=AiohttpTransport(limit), **kwargs)
