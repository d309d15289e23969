"""HTTP routes for approvals: list, approve, deny (behind the gateway token like every /api route).

GET  /api/approvals[?all=1]          {"approvals": [...]} pending ones (all=1: the recent 50)
POST /api/approvals/{id}/approve     {"approval": {...}}  200, 404 unknown, 409 already closed
POST /api/approvals/{id}/deny
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from nexus.gateway.runtime import GatewayRuntime
from nexus.store.approvals import ApprovalClosed, ApprovalNotFound


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def approval_routes(runtime: GatewayRuntime) -> list[Route]:
    async def list_approvals(request: Request) -> Response:
        everything = request.query_params.get("all") in ("1", "true")
        rows = runtime.approvals.recent() if everything else runtime.approvals.pending()
        return JSONResponse({"approvals": [a.to_api() for a in rows]})

    async def approve(request: Request) -> Response:
        return answer(request.path_params["approval_id"], approve=True)

    async def deny(request: Request) -> Response:
        return answer(request.path_params["approval_id"], approve=False)

    def answer(approval_id: str, *, approve: bool) -> Response:
        try:
            approval = runtime.answer_approval(approval_id, approve=approve, by="api")
        except ApprovalNotFound as exc:
            return _error(404, "not_found", str(exc))
        except ApprovalClosed as exc:
            return _error(409, "closed", f"{exc}; nothing changed")
        return JSONResponse({"approval": approval.to_api()})

    return [
        Route("/api/approvals", list_approvals),
        Route("/api/approvals/{approval_id}/approve", approve, methods=["POST"]),
        Route("/api/approvals/{approval_id}/deny", deny, methods=["POST"]),
    ]
