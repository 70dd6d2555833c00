"""Bearer-token auth of the Serve app's routes (on when ServeArgs names a token; the ingress puts
the token's SHA-256 in ``app.state.token_sha256``, so the token itself never reaches a replica)."""
import hashlib
import hmac

from fastapi import HTTPException, Request


def authorize(request: Request) -> None:
    """401 unless the request carries the bearer token (when auth is on)."""
    expected = getattr(request.app.state, "token_sha256", None)
    if expected is None:
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    digest = hashlib.sha256(token.strip().encode()).hexdigest()
    if scheme.lower() != "bearer" or not hmac.compare_digest(digest, expected):
        raise HTTPException(401, "authorization: missing or wrong bearer token", {"WWW-Authenticate": "Bearer"})
