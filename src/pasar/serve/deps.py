"""FastAPI dependencies: the server state, the calling key (auth and rate limit), admin scope."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from pasar.serve.errors import APIError
from pasar.serve.limits import TokenCharge
from pasar.serve.state import ServeState
from pasar.store.keys import KeyInfo, find_key


def get_state(request: Request) -> ServeState:
    state: ServeState = request.app.state.pasar
    return state


StateDep = Annotated[ServeState, Depends(get_state)]


def get_caller(request: Request, state: StateDep) -> KeyInfo | None:
    """The API key of the request (None when the server has no keys), rate-limited."""
    key = None
    if state.auth_required():
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        if not token:
            raise APIError(
                401,
                "missing API key: send 'Authorization: Bearer <key>' "
                "(create one with `pasar keys create NAME`)",
                code="missing_api_key",
            )
        key = find_key(state.store, key=token)
        if key is None:
            raise APIError(401, "invalid or revoked API key", code="invalid_api_key")
    client = rate_client(request, key)
    limit = key.rate_limit_per_minute if key else state.settings.rate_limit_per_minute
    wait = state.limiter.retry_after(client, limit)
    if wait > 0:
        raise APIError(
            429,
            f"rate limit of {limit} requests/minute reached; retry in {wait:.1f} s",
            code="rate_limit_exceeded",
            headers={"Retry-After": str(int(wait) + 1)},
        )
    return key


CallerDep = Annotated[KeyInfo | None, Depends(get_caller)]


def rate_client(request: Request, key: KeyInfo | None) -> str:
    """Whom rate limits count: the API key, or the address when the server has no keys."""
    return f"key:{key.id}" if key else f"ip:{request.client.host if request.client else '-'}"


def get_token_client(request: Request, caller: CallerDep) -> str:
    return rate_client(request, caller)


TokenClientDep = Annotated[str, Depends(get_token_client)]


def reserve_tokens(state: ServeState, client: str, tokens: int) -> TokenCharge:
    """Reserve a request's largest answer against its client's token budget, or 429."""
    limit = state.settings.token_limit_per_minute
    charge = state.limiter.reserve_tokens(client, limit, tokens)
    if isinstance(charge, float):
        raise APIError(
            429,
            f"token limit of {limit} tokens/minute (prompt and completion) reached; retry in "
            f"{charge:.1f} s. The server sets it with PASAR_TOKEN_LIMIT_PER_MINUTE",
            code="token_rate_limit_exceeded",
            headers={"Retry-After": str(int(charge) + 1)},
        )
    return charge


def visible_to(caller: KeyInfo | None) -> int | None:
    """Whose stored rows a caller sees: all (None) with no keys on the server or an admin key,
    else only the rows its own key created."""
    return None if caller is None or caller.scope == "admin" else caller.id


def require_admin(caller: CallerDep) -> KeyInfo | None:
    if caller is not None and caller.scope != "admin":
        raise APIError(
            403,
            "this needs an admin key (`pasar keys create NAME --scope admin`)",
            code="admin_required",
        )
    return caller


AdminDep = Annotated[KeyInfo | None, Depends(require_admin)]


def require_disputes(caller: CallerDep) -> KeyInfo | None:
    """The disputes endpoints show customers' names, addresses and card digits: they need a
    disputes or admin key (any caller when the server has no keys)."""
    if caller is not None and caller.scope not in ("disputes", "admin"):
        raise APIError(
            403,
            "the disputes endpoints need a disputes key (`pasar keys create NAME --scope "
            "disputes`) or an admin key",
            code="disputes_scope_required",
        )
    return caller


DisputesDep = Annotated[KeyInfo | None, Depends(require_disputes)]
