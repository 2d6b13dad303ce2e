"""Signed access tokens (JWT, HS256): messaging issues them at log-in, edges verify them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import jwt

from kernel.errors import Unauthenticated

ALGORITHM = "HS256"
ISSUER = "hubbub"


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: str
    expires_at_ms: int


def _key(secret: str) -> bytes:
    """HMAC key from the configured secret: always 32 bytes, whatever the secret's length."""
    return hashlib.sha256(secret.encode()).digest()


def issue_token(secret: str, user_id: str, now_ms: int, ttl_ms: int) -> tuple[str, int]:
    """A token for `user_id` and its expiry (ms)."""
    expires_at_ms = now_ms + ttl_ms
    claims = {"sub": user_id, "iss": ISSUER, "iat": now_ms // 1000, "exp": expires_at_ms // 1000}
    return jwt.encode(claims, _key(secret), algorithm=ALGORITHM), expires_at_ms


def verify_token(secret: str, token: str, now_ms: int) -> TokenClaims:
    """The claims of a valid token; Unauthenticated for a bad signature, expiry or shape."""
    try:
        claims = jwt.decode(
            token,
            _key(secret),
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["sub", "exp", "iss"], "verify_exp": False},
        )
    except jwt.PyJWTError as exc:
        raise Unauthenticated("invalid token") from exc
    expires_at_ms = int(claims["exp"]) * 1000
    if expires_at_ms <= now_ms:
        raise Unauthenticated("token expired")
    user_id = claims["sub"]
    if not isinstance(user_id, str) or not user_id:
        raise Unauthenticated("invalid token")
    return TokenClaims(user_id=user_id, expires_at_ms=expires_at_ms)
