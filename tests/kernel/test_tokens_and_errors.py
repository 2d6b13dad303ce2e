from __future__ import annotations

import pytest

from kernel.config import from_env
from kernel.errors import ErrorCode, HubbubError, InvalidArgument, NotMember, Unauthenticated, error_from_code
from kernel.tokens import TokenClaims, check_generation, issue_token, verify_token

NOW = 1_750_000_000_000


def test_token_round_trip() -> None:
    token, expires = issue_token("s3cret", "alice", NOW, ttl_ms=60_000)
    claims = verify_token("s3cret", token, NOW + 1_000)
    assert claims.user_id == "alice"
    assert claims.expires_at_ms == expires


@pytest.mark.parametrize(
    ("secret", "now", "message"),
    [("other", NOW, "invalid token"), ("s3cret", NOW + 61_000, "token expired")],
)
def test_bad_or_expired_tokens_are_unauthenticated(secret: str, now: int, message: str) -> None:
    token, _ = issue_token("s3cret", "alice", NOW, ttl_ms=60_000)
    with pytest.raises(Unauthenticated, match=message):
        verify_token(secret, token, now)


def test_garbage_token_is_unauthenticated() -> None:
    with pytest.raises(Unauthenticated):
        verify_token("s3cret", "not.a.token", NOW)


def test_codes_survive_the_wire() -> None:
    rebuilt = error_from_code("NOT_MEMBER", "not a member of 42")
    assert isinstance(rebuilt, NotMember)
    assert rebuilt.code is ErrorCode.NOT_MEMBER
    unknown = error_from_code("WHAT", "x")
    assert isinstance(unknown, HubbubError) and unknown.code is ErrorCode.INTERNAL


def test_config_from_env_converts_and_validates() -> None:
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Sample:
        port: int = 1
        flag: bool = False
        name: str = "x"

    sample = from_env(Sample, env={"HUBBUB_PORT": "99", "HUBBUB_FLAG": "yes"}, name="y")
    assert sample == Sample(port=99, flag=True, name="y")
    with pytest.raises(InvalidArgument, match="HUBBUB_PORT"):
        from_env(Sample, env={"HUBBUB_PORT": "ninety"})


def test_a_token_carries_its_generation_and_an_older_one_is_revoked() -> None:
    token, _ = issue_token("s", "alice", 1_000_000, 60_000, generation=3)
    claims = verify_token("s", token, 1_000_000)
    assert claims.generation == 3
    check_generation(claims, 3)  # current: good
    with pytest.raises(Unauthenticated, match="revoked"):
        check_generation(claims, 4)  # logged out everywhere since
    with pytest.raises(Unauthenticated, match="invalid token"):
        check_generation(claims, None)  # no such user
    with pytest.raises(Unauthenticated, match="invalid token"):
        check_generation(TokenClaims("alice", 0, generation=9), 3)  # never issued


def test_a_token_without_a_generation_is_generation_zero() -> None:
    import jwt

    from kernel.tokens import _key

    legacy = jwt.encode({"sub": "alice", "iss": "hubbub", "exp": 2_000}, _key("s"), algorithm="HS256")
    assert verify_token("s", legacy, 1_000_000).generation == 0
