"""Signed access tokens (JWT, HS256): messaging issues them at log-in, edges verify them.

A token carries its user's token generation at issue; "log out everywhere" bumps the stored
generation, so every earlier token fails `check_generation`."""

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
    generation: int = 0


def _key(secret: str) -> bytes:
    """HMAC key from the configured secret: always 32 bytes, whatever the secret's length."""
    return hashlib.sha256(secret.encode()).digest()


def issue_token(secret: str, user_id: str, now_ms: int, ttl_ms: int, generation: int = 0) -> tuple[str, int]:
    """A token for `user_id` at its current token `generation`, and its expiry (ms)."""
    expires_at_ms = now_ms + ttl_ms
    claims = {
        "sub": user_id,
        "iss": ISSUER,
        "iat": now_ms // 1000,
        "exp": expires_at_ms // 1000,
        "gen": generation,
    }
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
    generation = claims.get("gen", 0)
    if not isinstance(user_id, str) or not user_id:
        raise Unauthenticated("invalid token")
    if not isinstance(generation, int) or isinstance(generation, bool) or generation < 0:
        raise Unauthenticated("invalid token")
    return TokenClaims(user_id=user_id, expires_at_ms=expires_at_ms, generation=generation)


def check_generation(claims: TokenClaims, current: int | None) -> None:
    """A verified token is good only for a user that exists (`current` is None otherwise)
    and only if issued at the user's current generation (earlier ones were revoked)."""
    if current is None:
        raise Unauthenticated("invalid token")
    if claims.generation < current:
        raise Unauthenticated("token revoked: log in again")
    if claims.generation > current:
        raise Unauthenticated("invalid token")
