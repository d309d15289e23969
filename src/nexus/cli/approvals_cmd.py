"""``nexus approvals [--json]``, ``nexus approve ID``, ``nexus deny ID``: the owner answers tool calls.

Through the running gateway's HTTP API with the gateway token, so the waiting run wakes at once and
every client sees the answer. Exit codes: 0 done, 1 the gateway refused or is not running, 78 config.
"""

from __future__ import annotations

import json
import time
from typing import Any

import typer

EX_FAILED = 1


def register(app: typer.Typer) -> None:
    app.command("approvals", help="List tool calls waiting for your approval.")(approvals)
    app.command("approve", help="Approve a pending tool call by its id.")(approve)
    app.command("deny", help="Deny a pending tool call by its id.")(deny)


def approvals(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    everything: bool = typer.Option(False, "--all", help="Also the recently answered and expired ones."),
) -> None:
    rows = _call("approvals", lambda gw: gw.approvals(everything=everything))
    if as_json:
        typer.echo(json.dumps(rows, indent=2, sort_keys=True))
        return
    if not rows:
        typer.echo("no tool call is waiting for approval")
        return
    from nexus.agent.policy import approval_question

    now = time.time()
    for row in rows:
        subject = row.get("subject") or {}
        left = max(0, int(float(row.get("expires_at") or now) - now))
        when = (
            f"expires in {left // 60}m{left % 60:02d}s"
            if row.get("status") == "pending"
            else row.get("status")
        )
        typer.echo(f"{row['id']}  {row.get('tool')}  {when}  session {row.get('session') or '-'}")
        typer.echo(f"    to {approval_question(subject)}")
    if any(r.get("status") == "pending" for r in rows):
        typer.echo("answer with `nexus approve ID` or `nexus deny ID`")


def approve(approval_id: str = typer.Argument(..., help="The id `nexus approvals` shows (apr_...).")) -> None:
    _answer(approval_id, approve=True)


def deny(approval_id: str = typer.Argument(..., help="The id `nexus approvals` shows (apr_...).")) -> None:
    _answer(approval_id, approve=False)


def _answer(approval_id: str, *, approve: bool) -> None:
    from nexus.agent.policy import approval_question

    verb = "approve" if approve else "deny"
    row = _call(verb, lambda gw: gw.answer_approval(approval_id, approve=approve))
    typer.echo(f"{row.get('id')}: {row.get('status')} (to {approval_question(row.get('subject') or {})})")


def _call(what: str, action: Any) -> Any:
    import asyncio

    from nexus.cli.gateway_endpoint import local_endpoint
    from nexus.client.errors import ClientError
    from nexus.client.http import GatewayHTTP

    endpoint = local_endpoint(what)

    async def main() -> Any:
        async with GatewayHTTP(endpoint) as gw:
            return await action(gw)

    try:
        return asyncio.run(main())
    except ClientError as exc:
        typer.echo(f"nexus {what}: {exc}", err=True)
        raise typer.Exit(EX_FAILED) from exc
