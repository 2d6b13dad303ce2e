"""The sans-I/O session core: frames in, actions out, no sockets and no clock."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from edge.actions import (
    Action,
    CheckToken,
    Close,
    CloseCode,
    Opened,
    QueryKind,
    Reply,
    Throttle,
    ToMessaging,
    ToRouter,
)
from edge.inbound_limits import InboundRates, UserLimits
from edge.session import Session, SessionSettings, State
from kernel.errors import Unauthenticated, Unavailable
from kernel.limits import MAX_BODY_CHARS, MAX_EARLY_FRAMES
from kernel.tokens import issue_token
from protos import client_pb2 as pb

SECRET = "test-secret"
T0 = 1_700_000_000_000
SETTINGS = SessionSettings(
    edge_id="edge-t",
    token_secret=SECRET,
    heartbeat_interval_ms=1_000,
    heartbeat_timeout_ms=3_000,
)


def token(user: str = "alice", now: int = T0, ttl: int = 60_000) -> str:
    return issue_token(SECRET, user, now, ttl)[0]


def hello(tok: str, device: str = "phone", ref: int = 1) -> pb.ClientFrame:
    return pb.ClientFrame(ref=ref, hello=pb.Hello(token=tok, device_id=device))


def replies(actions: Sequence[Action]) -> list[pb.ServerFrame]:
    return [a.frame for a in actions if isinstance(a, Reply)]


def error_of(actions: Sequence[Action]) -> pb.Error:
    (frame,) = replies(actions)
    assert frame.WhichOneof("kind") == "error"
    return frame.error


def token_hello(session: Session, frame: pb.ClientFrame, now: int) -> list[Action]:
    """A token hello whose user and generation the I/O layer found good."""
    (check,) = session.receive(frame, now)
    assert isinstance(check, CheckToken) and session.state is State.AUTHENTICATING
    return session.authenticated(check.ref, check.claims.user_id, "", now)


def open_session(session_id: int = 7) -> Session:
    session = Session(session_id, SETTINGS, T0)
    token_hello(session, hello(token()), T0)
    assert session.state is State.OPEN
    return session


def send(body: str = "hi", *, conv: int = 42, cmid: str = "m-1", ref: int = 5) -> pb.ClientFrame:
    return pb.ClientFrame(ref=ref, send=pb.SendMessage(conversation_id=conv, client_msg_id=cmid, body=body))


def test_hello_with_a_valid_token_opens_the_session() -> None:
    session = Session(7, SETTINGS, T0)
    (check,) = session.receive(hello(token()), T0 + 10)
    # Signed correctly: the user's existence and token generation are checked next (issue 7 #9).
    assert isinstance(check, CheckToken) and (check.ref, check.claims.user_id) == (1, "alice")
    actions = session.authenticated(check.ref, "alice", "", T0 + 10)
    welcome_frame, opened = actions
    assert isinstance(welcome_frame, Reply) and isinstance(opened, Opened)
    welcome = welcome_frame.frame.welcome
    assert welcome_frame.frame.ref == 1
    assert (welcome.user_id, welcome.device_id, welcome.session_id) == ("alice", "phone", 7)
    assert (welcome.heartbeat_interval_ms, welcome.heartbeat_timeout_ms) == (1_000, 3_000)
    assert welcome.max_body_chars == MAX_BODY_CHARS and welcome.edge_id == "edge-t"
    assert welcome.server_time_ms == T0 + 10
    assert opened == Opened(7, "alice", "phone")


def test_frames_pipelined_behind_a_token_hello_are_served_after_the_welcome() -> None:
    session = Session(7, SETTINGS, T0)
    (check,) = session.receive(hello(token()), T0)
    assert isinstance(check, CheckToken)
    held = [send(cmid=f"m-{i}", ref=10 + i) for i in range(MAX_EARLY_FRAMES)]
    for frame in held:
        assert session.receive(frame, T0) == []  # nothing routed before the check
    overflow = session.receive(send(cmid="late", ref=99), T0)
    assert error_of(overflow).code == "UNAUTHENTICATED" and not error_of(overflow).fatal
    actions = session.authenticated(check.ref, "alice", "", T0)
    assert isinstance(actions[0], Reply) and actions[0].frame.WhichOneof("kind") == "welcome"
    assert actions[2:] == [ToRouter(frame) for frame in held]


def test_a_token_refused_by_its_check_is_fatal_with_4001() -> None:
    session = Session(1, SETTINGS, T0)
    (check,) = session.receive(hello(token("ghost")), T0)
    assert isinstance(check, CheckToken)
    actions = session.auth_failed(check.ref, Unauthenticated("invalid token"))
    assert (error_of(actions).code, error_of(actions).fatal) == ("UNAUTHENTICATED", True)
    assert actions[-1] == Close(CloseCode.UNAUTHENTICATED, "UNAUTHENTICATED")


def test_log_out_everywhere_goes_to_messaging_with_the_user() -> None:
    session = open_session()
    frame = pb.ClientFrame(ref=9, log_out_everywhere=pb.LogOutEverywhere())
    assert session.receive(frame, T0) == [ToMessaging(QueryKind.LOG_OUT_EVERYWHERE, 9, "alice", frame)]


@pytest.mark.parametrize(
    "tok",
    [
        "not-a-token",
        issue_token("another-secret", "alice", T0, 60_000)[0],
        issue_token(SECRET, "alice", T0 - 120_000, 60_000)[0],  # expired
    ],
    ids=["garbage", "wrong-secret", "expired"],
)
def test_bad_or_expired_token_is_fatal_with_4001(tok: str) -> None:
    session = Session(1, SETTINGS, T0)
    actions = session.receive(hello(tok), T0)
    error = error_of(actions)
    assert (error.code, error.fatal) == ("UNAUTHENTICATED", True)
    assert actions[-1] == Close(CloseCode.UNAUTHENTICATED, "UNAUTHENTICATED")
    assert session.state is State.CLOSED
    assert session.receive(send(), T0) == []


def test_first_frame_must_be_hello() -> None:
    session = Session(1, SETTINGS, T0)
    actions = session.receive(pb.ClientFrame(ref=3, ping=pb.Ping()), T0)
    error = error_of(actions)
    assert error.code == "UNAUTHENTICATED" and error.fatal
    assert isinstance(actions[-1], Close) and actions[-1].code == CloseCode.UNAUTHENTICATED


def test_hello_without_credentials_is_refused() -> None:
    actions = Session(1, SETTINGS, T0).receive(pb.ClientFrame(hello=pb.Hello(device_id="d")), T0)
    assert error_of(actions).code == "UNAUTHENTICATED"


def test_empty_device_id_gets_a_generated_one_and_too_long_is_refused() -> None:
    session = Session(9, SETTINGS, T0)
    actions = token_hello(session, hello(token(), device=""), T0)
    generated = replies(actions)[0].welcome.device_id
    assert generated == "auto-edge-t-9"
    too_long = Session(2, SETTINGS, T0).receive(hello(token(), device="d" * 65), T0)
    assert error_of(too_long).code == "INVALID_ARGUMENT"
    assert isinstance(too_long[-1], Close)


def test_log_in_goes_to_messaging_and_the_welcome_carries_the_token() -> None:
    session = Session(3, SETTINGS, T0)
    frame = pb.ClientFrame(
        ref=2, hello=pb.Hello(log_in=pb.Credentials(user_id="bob", password="pw"), device_id="d")
    )
    (query,) = session.receive(frame, T0)
    assert isinstance(query, ToMessaging) and query.kind is QueryKind.LOG_IN and query.ref == 2
    # Until messaging answers, only ping/goodbye are served.
    assert error_of(session.receive(send(), T0)).code == "UNAUTHENTICATED"
    welcome, opened = session.authenticated(2, "bob", "tok-123", T0)
    assert isinstance(welcome, Reply) and welcome.frame.welcome.token == "tok-123"
    assert opened == Opened(3, "bob", "d")


def test_refused_or_unavailable_log_in_closes_with_the_right_code() -> None:
    refused = Session(3, SETTINGS, T0)
    refused.receive(pb.ClientFrame(hello=pb.Hello(sign_up=pb.Credentials(user_id="bob"))), T0)
    actions = refused.auth_failed(0, Unauthenticated("wrong password"))
    assert error_of(actions).code == "UNAUTHENTICATED"
    assert actions[-1] == Close(CloseCode.UNAUTHENTICATED, "UNAUTHENTICATED")
    down = Session(4, SETTINGS, T0)
    down.receive(pb.ClientFrame(hello=pb.Hello(log_in=pb.Credentials(user_id="bob"))), T0)
    actions = down.auth_failed(0, Unavailable("messaging down"))
    assert error_of(actions).retryable
    assert actions[-1] == Close(CloseCode.INTERNAL, "UNAVAILABLE")


def test_valid_send_goes_to_the_router() -> None:
    frame = send("x" * MAX_BODY_CHARS)
    assert open_session().receive(frame, T0) == [ToRouter(frame)]
    payload_only = pb.ClientFrame(send=pb.SendMessage(conversation_id=1, client_msg_id="p", payload=b"\x01"))
    assert open_session().receive(payload_only, T0) == [ToRouter(payload_only)]


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (send(""), "INVALID_ARGUMENT"),
        (send("x" * (MAX_BODY_CHARS + 1)), "TOO_LARGE"),
        (send(cmid=""), "INVALID_ARGUMENT"),
        (send(conv=0), "INVALID_ARGUMENT"),
        (pb.ClientFrame(ref=5, delivered=pb.AckDelivered()), "INVALID_ARGUMENT"),
        (pb.ClientFrame(ref=5, typing=pb.Typing()), "INVALID_ARGUMENT"),
        (pb.ClientFrame(ref=5, history=pb.FetchHistory()), "INVALID_ARGUMENT"),
        (pb.ClientFrame(ref=5), "BAD_FRAME"),
        (hello("again", ref=5), "INVALID_ARGUMENT"),
    ],
    ids=[
        "empty",
        "too-large",
        "no-client-msg-id",
        "no-conversation",
        "no-cursors",
        "typing-no-conv",
        "history-no-conv",
        "empty-oneof",
        "second-hello",
    ],
)
def test_invalid_frames_get_an_error_echoing_ref_and_the_connection_stays(
    frame: pb.ClientFrame, code: str
) -> None:
    session = open_session()
    actions = session.receive(frame, T0)
    (reply,) = replies(actions)
    assert reply.ref == 5
    assert (reply.error.code, reply.error.fatal) == (code, False)
    assert not any(isinstance(a, (Close, ToRouter)) for a in actions)
    assert session.state is State.OPEN


@pytest.mark.parametrize(
    "kind", ["delivered", "read", "open_direct", "create_group", "update_group", "contact"]
)
def test_other_routed_frames_are_forwarded(kind: str) -> None:
    frame = pb.ClientFrame(ref=9)
    if kind in ("delivered", "read"):
        getattr(frame, kind).cursors.add(conversation_id=3, seq=4)
    elif kind == "update_group":
        frame.update_group.conversation_id = 3
        frame.update_group.rename = "x"
    elif kind == "contact":
        frame.contact.add = "bob"
    else:
        getattr(frame, kind).SetInParent()
    assert open_session().receive(frame, T0) == [ToRouter(frame)]


@pytest.mark.parametrize(
    ("field", "kind"),
    [("list_conversations", QueryKind.LIST_CONVERSATIONS), ("resume", QueryKind.RESUME)],
)
def test_queries_go_to_messaging_with_the_user(field: str, kind: QueryKind) -> None:
    frame = pb.ClientFrame(ref=11)
    getattr(frame, field).SetInParent()
    (query,) = open_session().receive(frame, T0)
    assert query == ToMessaging(kind, 11, "alice", frame)


def test_ping_gets_pong_and_goodbye_closes_gracefully() -> None:
    session = open_session()
    (pong,) = replies(session.receive(pb.ClientFrame(ref=4, ping=pb.Ping(client_time_ms=123)), T0 + 5))
    assert (pong.ref, pong.pong.client_time_ms, pong.pong.server_time_ms) == (4, 123, T0 + 5)
    assert session.receive(pb.ClientFrame(goodbye=pb.Goodbye()), T0) == [Close(CloseCode.NORMAL, "goodbye")]
    assert session.graceful and session.state is State.CLOSED


def test_typing_flood_is_limited_with_at_most_one_error_per_second() -> None:
    session = open_session()
    typing = pb.ClientFrame(ref=1, typing=pb.Typing(conversation_id=42, active=True))
    results = [session.receive(typing, T0) for _ in range(200)]
    forwarded = [r for r in results if r and isinstance(r[0], ToRouter)]
    errors = [r for r in results if r and isinstance(r[0], Reply)]
    assert len(forwarded) == 5  # the burst
    assert len(errors) == 1 and error_of(errors[0]).code == "RATE_LIMITED" and error_of(errors[0]).retryable
    assert session.state is State.OPEN
    # 999 ms later: not yet a whole token, and still no second error inside the same second.
    later = [session.receive(typing, T0 + 999) for _ in range(10)]
    assert not any(r and isinstance(r[0], ToRouter) for r in later)
    assert not any(r and isinstance(r[0], Reply) for r in later)
    # Two seconds in, two tokens have refilled, and the flood earns one more error.
    after = [session.receive(typing, T0 + 2_000) for _ in range(10)]
    assert sum(1 for r in after if r and isinstance(r[0], ToRouter)) == 2
    assert sum(1 for r in after if r and isinstance(r[0], Reply)) == 1


def test_a_send_flood_gets_rate_limited_with_its_ref_and_a_retry_after() -> None:
    session = open_session()
    results = [session.receive(send(cmid=f"m-{i}", ref=100 + i), T0) for i in range(80)]
    forwarded = [r for r in results if r and isinstance(r[0], ToRouter)]
    errors = [r for r in results if r and isinstance(r[0], Reply)]
    assert len(forwarded) == 50  # the burst
    (error,) = errors
    assert replies(error)[0].ref == 150, "the error echoes the ref of the first refused frame"
    assert error_of(error).code == "RATE_LIMITED" and error_of(error).retryable
    assert error_of(error).retry_after_ms == 50  # 20 sends/s: one token every 50 ms
    assert session.state is State.OPEN


def test_sending_on_after_being_told_pauses_the_connection() -> None:
    session = open_session()
    for i in range(50):
        session.receive(send(cmid=f"m-{i}", ref=i + 1), T0)
    told = session.receive(send(cmid="m-50", ref=51), T0)
    assert error_of(told).code == "RATE_LIMITED"
    ignored = session.receive(send(cmid="m-51", ref=52), T0 + 1)
    assert ignored == [Throttle(1000)], "told already: not answered, the edge stops reading it"
    # Once the retry-after has passed the client is answered again.
    later = session.receive(send(cmid="m-52", ref=53), T0 + 50)
    assert isinstance(later[0], ToRouter)


def test_queries_are_limited_too() -> None:
    session = open_session()
    history = pb.ClientFrame(ref=9, history=pb.FetchHistory(conversation_id=42))
    results = [session.receive(history, T0) for _ in range(60)]
    assert sum(1 for r in results if r and isinstance(r[0], ToMessaging)) == 50
    assert sum(1 for r in results if r and isinstance(r[0], Reply)) == 1


def test_a_users_sessions_share_one_allowance() -> None:
    users = UserLimits(InboundRates())
    sessions = [Session(i, SETTINGS, T0, users) for i in range(1, 11)]
    for session in sessions:
        token_hello(session, hello(token()), T0)
    typing = pb.ClientFrame(ref=1, typing=pb.Typing(conversation_id=42, active=True))
    passed = sum(
        1 for s in sessions for _ in range(20) for a in s.receive(typing, T0) if isinstance(a, ToRouter)
    )
    assert passed == 10  # the user's bucket: twice one session's burst of 5, not ten times
    bob = Session(11, SETTINGS, T0, users)
    token_hello(bob, hello(token("bob")), T0)
    assert isinstance(bob.receive(typing, T0)[0], ToRouter)


def test_heartbeat_timeout_closes_a_silent_session() -> None:
    session = open_session()
    assert session.tick(T0 + 2_999) == []
    session.receive(pb.ClientFrame(ping=pb.Ping()), T0 + 2_000)  # any frame counts as liveness
    assert session.tick(T0 + 4_999) == []
    actions = session.tick(T0 + 5_000)
    assert error_of(actions).code == "HEARTBEAT_TIMEOUT"
    assert actions[-1] == Close(CloseCode.HEARTBEAT_TIMEOUT, "HEARTBEAT_TIMEOUT")
    assert session.tick(T0 + 9_000) == []


def test_a_connection_that_never_says_hello_times_out_too() -> None:
    session = Session(1, SETTINGS, T0)
    assert isinstance(session.tick(T0 + 3_000)[-1], Close)


def test_undecodable_bytes_are_survivable_after_the_handshake_only() -> None:
    session = open_session()
    actions = session.bad_frame("not JSON", T0)
    assert error_of(actions).code == "BAD_FRAME" and session.state is State.OPEN
    fresh = Session(1, SETTINGS, T0)
    actions = fresh.bad_frame("not JSON", T0)
    assert actions[-1] == Close(CloseCode.BAD_FRAME, "BAD_FRAME")


def test_an_undecodable_frame_with_a_readable_ref_is_answered_with_it() -> None:
    session = open_session()
    actions = session.bad_frame("not a ClientFrame: conversationId is out of range", T0, ref=3)
    (reply,) = actions
    assert isinstance(reply, Reply) and reply.frame.ref == 3 and reply.frame.error.code == "BAD_FRAME"


@pytest.mark.parametrize(
    ("auth", "user_id", "password", "code", "message"),
    [
        ("log_in", "a" * 1_000_000, "p" * 600_000, "UNAUTHENTICATED", "wrong user id or password"),
        ("log_in", "Bad Id", "password123", "UNAUTHENTICATED", "wrong user id or password"),
        ("log_in", "bob", "p" * 257, "UNAUTHENTICATED", "wrong user id or password"),
        ("sign_up", "a" * 33, "password123", "INVALID_ARGUMENT", "user id must be 1..32 characters"),
        ("sign_up", "bob", "p" * 257, "INVALID_ARGUMENT", "password must be 8..256 characters"),
    ],
)
def test_credentials_no_account_can_have_never_reach_messaging(
    auth: str, user_id: str, password: str, code: str, message: str
) -> None:
    credentials = pb.Credentials(user_id=user_id, password=password)
    hello_frame = pb.ClientFrame(ref=4, hello=pb.Hello(**{auth: credentials}))  # type: ignore[arg-type]
    actions = Session(5, SETTINGS, T0).receive(hello_frame, T0)
    assert not any(isinstance(action, ToMessaging) for action in actions)
    error = error_of(actions)
    assert (error.code, error.fatal) == (code, True) and error.message.startswith(message)
    assert actions[-1] == Close(CloseCode.UNAUTHENTICATED, code)
