"""The gateway's HTTP routes, typed: probes, status, messages, runs (with long-poll), history.

For scripts and health checks that need no event stream. httpx errors are translated here, once.
"""

from __future__ import annotations

from typing import Any

import httpx

from nexus.client.endpoint import Endpoint
from nexus.client.errors import ClientError, ConnectionLost, GatewayNotRunning, RequestFailed, Unauthorized

DEFAULT_TIMEOUT_S = 10.0


class GatewayHTTP:
    """``async with GatewayHTTP(endpoint) as gw: await gw.status()``; ``transport`` is for tests."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._endpoint = endpoint
        headers = {"Authorization": f"Bearer {endpoint.token.reveal()}"} if endpoint.token else {}
        self._http = httpx.AsyncClient(
            base_url=endpoint.base_url,
            headers=headers,
            timeout=timeout,
            transport=transport,
            trust_env=False,  # the local gateway is never reached through a proxy
        )

    async def __aenter__(self) -> GatewayHTTP:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def healthz(self) -> bool:
        return bool((await self._call("GET", "/healthz")).get("ok"))

    async def status(self) -> dict[str, Any]:
        return await self._call("GET", "/status")

    async def send(self, session: str, text: str, *, idempotency_key: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"session": session, "text": text}
        if idempotency_key is not None:
            body["idempotency_key"] = idempotency_key
        return await self._call("POST", "/api/messages", json=body)

    async def run(self, run_id: str, *, wait: float = 0.0) -> dict[str, Any]:
        """The run; ``wait`` > 0 long-polls until it ends or the time is up (the gateway caps it at 300 s)."""
        return await self._call(
            "GET", f"/api/runs/{run_id}", params={"wait": wait}, timeout=wait + DEFAULT_TIMEOUT_S
        )

    async def history(self, session: str, *, limit: int = 50) -> list[dict[str, Any]]:
        body = await self._call("GET", f"/api/sessions/{session}/history", params={"limit": limit})
        return list(body.get("runs") or [])

    async def approvals(self, *, everything: bool = False) -> list[dict[str, Any]]:
        body = await self._call("GET", "/api/approvals", params={"all": "1"} if everything else {})
        return list(body.get("approvals") or [])

    async def answer_approval(self, approval_id: str, *, approve: bool) -> dict[str, Any]:
        verb = "approve" if approve else "deny"
        body = await self._call("POST", f"/api/approvals/{approval_id}/{verb}")
        return dict(body.get("approval") or {})

    async def _call(
        self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        try:
            response = await self._http.request(
                method, path, timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT, **kwargs
            )
        except httpx.ConnectError as exc:
            if _refused(exc):
                raise GatewayNotRunning(self._endpoint.address) from exc
            raise ConnectionLost(f"cannot reach the gateway at {self._endpoint.address}: {exc}") from exc
        except httpx.TimeoutException as exc:
            raise ConnectionLost(f"the gateway did not answer {method} {path} in time") from exc
        except httpx.TransportError as exc:
            raise ConnectionLost(f"the connection to the gateway failed: {type(exc).__name__}") from exc
        try:
            body = response.json()
        except ValueError as exc:
            raise ClientError(
                f"the gateway answered {method} {path} with non-JSON (HTTP {response.status_code})"
            ) from exc
        if response.status_code == 401:
            raise Unauthorized(
                "the gateway refused the token: `nexus token` prints the one it expects "
                "(or set NEXUS_GATEWAY_TOKEN)"
            )
        if response.status_code >= 400:
            err = body.get("error") if isinstance(body, dict) else None
            err = err if isinstance(err, dict) else {}
            raise RequestFailed(str(err.get("code", response.status_code)), str(err.get("message", "")))
        return body if isinstance(body, dict) else {"data": body}


def _refused(exc: BaseException) -> bool:
    """Whether a connection refusal is somewhere in the chain (httpx wraps it in two layers)."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, ConnectionRefusedError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
