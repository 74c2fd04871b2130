"""Sessions (idle and absolute expiry, a bound on their number) and the failed-login throttle."""

from __future__ import annotations

from edge.core.configbase import Secret
from edge.web.auth import LoginThrottle, SessionStore, UserDirectory
from edge.web.config import SessionConfig, WebUser
from edge.web.passwords import hash_password


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_ends_after_being_idle_and_after_its_maximum_age() -> None:
    clock = Clock()
    store = SessionStore(SessionConfig(idle_timeout_s=60, max_age_s=300), clock=clock)
    session = store.create("guard")
    for _ in range(5):
        clock.now += 50
        assert store.get(session.token) is session  # activity keeps it alive
    clock.now += 51
    assert store.get(session.token) is None  # 300 s after login, however active
    assert session.closed.is_set()
    idle = store.create("guard")
    clock.now += 61
    assert store.get(idle.token) is None


def test_a_peek_does_not_count_as_activity() -> None:
    clock = Clock()
    store = SessionStore(SessionConfig(idle_timeout_s=60, max_age_s=300), clock=clock)
    session = store.create("guard")
    clock.now += 40
    assert store.get(session.token, touch=False) is session
    clock.now += 30
    assert store.get(session.token) is None


def test_the_oldest_session_goes_when_the_bound_is_reached() -> None:
    store = SessionStore(SessionConfig(max_sessions=2))
    first, second, third = store.create("a"), store.create("b"), store.create("c")
    assert store.get(first.token) is None and first.closed.is_set()
    assert store.get(second.token) is second and store.get(third.token) is third
    assert len(store) == 2


def test_unknown_or_missing_tokens_have_no_session() -> None:
    store = SessionStore(SessionConfig())
    store.create("a")
    assert store.get(None) is None and store.get("") is None and store.get("forged") is None


def test_failed_logins_lock_out_one_address_for_a_while() -> None:
    clock = Clock()
    throttle = LoginThrottle(3, 60, clock=clock)
    for _ in range(3):
        assert throttle.retry_after("10.0.0.5") == 0
        throttle.failed("10.0.0.5")
    assert throttle.retry_after("10.0.0.5") == 60
    assert throttle.retry_after("10.0.0.6") == 0  # others are not affected
    clock.now += 45
    assert throttle.retry_after("10.0.0.5") == 15
    clock.now += 15
    assert throttle.retry_after("10.0.0.5") == 0


def test_a_success_forgets_earlier_failures() -> None:
    throttle = LoginThrottle(2, 60)
    throttle.failed("a")
    throttle.succeeded("a")
    throttle.failed("a")
    assert throttle.retry_after("a") == 0


async def test_users_from_hashes_and_from_secrets(monkeypatch) -> None:
    monkeypatch.setenv("EDGE_TEST_NIGHT_PW", "night shift")
    users = UserDirectory.from_config(
        [
            WebUser(name="guard", password_hash=hash_password("day shift", n=2**10)),
            WebUser(name="night", password=Secret(env="EDGE_TEST_NIGHT_PW")),
        ]
    )
    assert await users.check("guard", "day shift")
    assert await users.check("night", "night shift")
    assert not await users.check("night", "day shift")
    assert not await users.check("nobody", "day shift")


def test_a_password_secret_that_cannot_be_read_names_the_user(monkeypatch) -> None:
    monkeypatch.delenv("EDGE_TEST_MISSING", raising=False)
    try:
        UserDirectory.from_config([WebUser(name="night", password=Secret(env="EDGE_TEST_MISSING"))])
    except ValueError as exc:
        assert "web.users[night].password" in str(exc) and "EDGE_TEST_MISSING" in str(exc)
    else:
        raise AssertionError("a missing password secret was accepted")


async def test_concurrent_guesses_from_one_address_do_not_all_pass_the_throttle() -> None:
    """Finding 10: the throttle was checked before the awaits, so N guesses sent at once were all hashed."""
    import asyncio

    from edge.web.auth import LoginBusy, LoginThrottle, UserDirectory
    from edge.web.passwords import hash_password

    throttle = LoginThrottle(attempts=3, lockout_s=60)
    users = UserDirectory({"guard": hash_password("right", n=2**12)})
    checked = 0

    async def guess() -> str:
        nonlocal checked
        if throttle.begin("10.0.0.9") > 0:
            return "throttled"
        try:
            checked += 1
            ok = await users.check("guard", "wrong")
        except LoginBusy:
            throttle.not_checked("10.0.0.9")
            return "busy"
        return "ok" if ok else "failed"

    outcomes = await asyncio.gather(*(guess() for _ in range(50)))
    assert outcomes.count("failed") == 3 and checked == 3
    assert outcomes.count("throttled") == 47


async def test_password_checks_are_bounded() -> None:
    import asyncio

    from edge.web.auth import LoginBusy, UserDirectory
    from edge.web.passwords import hash_password

    users = UserDirectory({"guard": hash_password("right", n=2**12)})
    results = await asyncio.gather(*(users.check("guard", "wrong") for _ in range(30)), return_exceptions=True)
    busy = [r for r in results if isinstance(r, LoginBusy)]
    assert len(busy) == 30 - UserDirectory.MAX_WAITING and results.count(False) == UserDirectory.MAX_WAITING
