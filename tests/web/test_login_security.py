"""Login and sessions against an attacker (issue 10): throttling, password policy, sessions that
end at logout and password change, Secure cookies, ``next`` only local, equal hash work.

Expected answers come from the rules in docs/security.md, not from the code: with the default
limits pinned below (5 failures per account, 20 per address, 60 s first lock doubling up to
3600 s, failures forgotten after 900 s), the 5th failure locks the account for 60 s, a failure
after that lock for 120 s, and so on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from node.app import create_app
from node.errors import InvalidInputError
from node.models import User
from node.services import users
from tests.conftest import NodeHandle
from tests.support import Caller, Clock
from tests.web.test_pages import csrf_token

ACCOUNT_LIMIT = 5
ADDRESS_LIMIT = 20
LOCK_SECONDS = 60
MAX_LOCK_SECONDS = 3600
WINDOW_SECONDS = 900
GOOD_PASSWORD = "correct horse battery"


def _make_app(node: NodeHandle, clock: Clock, **extra: Any) -> Flask:
    overrides: dict[str, Any] = {"clock": clock, **extra}
    if node.database_url:
        overrides["database_url"] = node.database_url
    application = create_app(node.data_dir, overrides)
    application.config.update(TESTING=True, WTF_CSRF_ENABLED=True)
    return application


@pytest.fixture
def app(node: NodeHandle, clock: Clock) -> Iterator[Flask]:
    """The node with the default limits and CSRF on (overrides the shared ``app``)."""
    application = _make_app(node, clock)
    yield application
    application.extensions["hrcnet"].engine.dispose()


@pytest.fixture
def web(app: Flask) -> FlaskClient:
    return app.test_client()


def attempt(
    client: FlaskClient,
    email: str,
    password: str,
    *,
    address: str = "192.0.2.10",
    next_url: str | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    """One sign-in from ``address`` (the TCP peer the node sees)."""
    environ = {"REMOTE_ADDR": address}
    token = csrf_token(client, "/login")
    query = {"next": next_url} if next_url is not None else None
    return client.post(
        "/login",
        query_string=query,
        data={"email": email, "password": password, "csrf_token": token},
        environ_base=environ,
        headers=headers or {},
    )


def signed_in_as(client: FlaskClient) -> str | None:
    """The e-mail the page header shows, None for an anonymous visitor."""
    page = client.get("/enter")
    if page.status_code == 302:
        return None
    assert page.status_code == 200
    html = client.get("/").get_data(as_text=True)
    marker = 'class="who"'
    return html.split(marker, 1)[1].split(">", 1)[1].split(" (", 1)[0] if marker in html else None


def throttle_rows(app: Flask) -> int:
    with app.extensions["hrcnet"].sessions() as session:
        return int(session.scalar(text("SELECT count(*) FROM login_throttles")) or 0)


# --- throttling -----------------------------------------------------------------------------


def test_account_below_the_limit_can_still_sign_in(web: FlaskClient, official: Caller) -> None:
    for _ in range(ACCOUNT_LIMIT - 1):
        assert attempt(web, official.email, "wrong password here").status_code == 400
    response = attempt(web, official.email, official.password)
    assert response.status_code == 302
    assert signed_in_as(web) == official.email


def test_account_locked_at_the_limit_even_for_the_right_password(
    app: Flask, web: FlaskClient, official: Caller, clock: Clock
) -> None:
    for _ in range(ACCOUNT_LIMIT - 1):
        assert attempt(web, official.email, "wrong password here").status_code == 400
    locked = attempt(web, official.email, "wrong password here")
    assert locked.status_code == 429
    assert locked.headers["Retry-After"] == str(LOCK_SECONDS)
    page = locked.get_data(as_text=True)
    assert locked.mimetype == "text/html" and "Too many attempts" in page and "try again" in page

    # The point of a lock: the right password is refused too, and nobody is signed in.
    during = attempt(web, official.email, official.password)
    assert during.status_code == 429 and signed_in_as(web) is None
    clock.advance(seconds=LOCK_SECONDS - 1)
    last_second = attempt(web, official.email, official.password)
    assert last_second.status_code == 429 and last_second.headers["Retry-After"] == "1"
    assert signed_in_as(web) is None

    clock.advance(seconds=1)
    assert attempt(web, official.email, official.password).status_code == 302
    assert signed_in_as(web) == official.email


def test_lock_doubles_with_each_further_failure_up_to_the_cap(
    web: FlaskClient, official: Caller, clock: Clock
) -> None:
    for _ in range(ACCOUNT_LIMIT):
        attempt(web, official.email, "wrong password here")
    expected = LOCK_SECONDS
    for _ in range(7):
        clock.advance(seconds=expected)
        again = attempt(web, official.email, "wrong password here")
        expected = min(expected * 2, MAX_LOCK_SECONDS)
        assert again.status_code == 429 and again.headers["Retry-After"] == str(expected)
    assert expected == MAX_LOCK_SECONDS


def test_success_clears_the_account_counter(
    web: FlaskClient, official: Caller, clock: Clock
) -> None:
    for _ in range(ACCOUNT_LIMIT - 1):
        attempt(web, official.email, "wrong password here")
    assert attempt(web, official.email, official.password).status_code == 302
    # Counted from zero again: limit-1 more failures still leave the account open.
    for _ in range(ACCOUNT_LIMIT - 1):
        assert attempt(web, official.email, "wrong password here").status_code == 400
    assert attempt(web, official.email, official.password).status_code == 302


def test_unknown_accounts_are_throttled_like_known_ones(web: FlaskClient) -> None:
    answers = [
        attempt(web, "nobody@example.org", "wrong password here").status_code
        for _ in range(ACCOUNT_LIMIT)
    ]
    assert answers == [400] * (ACCOUNT_LIMIT - 1) + [429]


def test_failures_expire_after_the_window(web: FlaskClient, official: Caller, clock: Clock) -> None:
    for _ in range(ACCOUNT_LIMIT - 1):
        attempt(web, official.email, "wrong password here")
    clock.advance(seconds=WINDOW_SECONDS)
    # The old failures are out of the window: this one is the first again, not the locking one.
    assert attempt(web, official.email, "wrong password here").status_code == 400
    assert attempt(web, official.email, official.password).status_code == 302


def test_address_locked_across_accounts(
    web: FlaskClient, official: Caller, create_user: Callable[..., Caller]
) -> None:
    other = create_user("viewer")
    attacker = "198.51.100.7"
    answers = [
        attempt(web, f"guess{i}@example.org", "wrong password here", address=attacker).status_code
        for i in range(ADDRESS_LIMIT)
    ]
    assert answers == [400] * (ADDRESS_LIMIT - 1) + [429]
    # Locked address: even a right password of an unlocked account is refused from there, and
    # a forged X-Forwarded-For does not help (it is not trusted unless configured).
    refused = attempt(
        web,
        official.email,
        official.password,
        address=attacker,
        headers={"X-Forwarded-For": "203.0.113.99"},
    )
    assert refused.status_code == 429 and signed_in_as(web) is None
    # Another address is not affected.
    assert attempt(web, other.email, other.password, address="192.0.2.44").status_code == 302


def test_address_below_its_limit_still_allowed(web: FlaskClient, official: Caller) -> None:
    attacker = "198.51.100.8"
    for i in range(ADDRESS_LIMIT - 1):
        attempt(web, f"guess{i}@example.org", "wrong password here", address=attacker)
    assert attempt(web, official.email, official.password, address=attacker).status_code == 302


def test_forwarded_for_used_only_when_configured(
    node: NodeHandle, clock: Clock, official: Caller
) -> None:
    proxied = _make_app(node, clock, trusted_proxy_hops=1)
    try:
        client = proxied.test_client()
        proxy = "127.0.0.1"

        def via_proxy(email: str, password: str, client_ip: str) -> int:
            forwarded = {"X-Forwarded-For": f"6.6.6.6, {client_ip}"}  # left part: client's own
            return int(
                attempt(client, email, password, address=proxy, headers=forwarded).status_code
            )

        answers = [
            via_proxy(f"guess{i}@example.org", "wrong password here", "203.0.113.5")
            for i in range(ADDRESS_LIMIT)
        ]
        assert answers == [400] * (ADDRESS_LIMIT - 1) + [429]
        assert via_proxy(official.email, official.password, "203.0.113.5") == 429
        # Same proxy, another client behind it: not locked.
        assert via_proxy(official.email, official.password, "203.0.113.6") == 302
    finally:
        proxied.extensions["hrcnet"].engine.dispose()


def test_counts_are_shared_by_workers(node: NodeHandle, clock: Clock, official: Caller) -> None:
    """Two app instances on one database (two gunicorn workers) see the same counter."""
    first, second = _make_app(node, clock), _make_app(node, clock)
    try:
        clients = [first.test_client(), second.test_client()]
        answers = [
            attempt(clients[i % 2], official.email, "wrong password here").status_code
            for i in range(ACCOUNT_LIMIT)
        ]
        assert answers == [400] * (ACCOUNT_LIMIT - 1) + [429]
        assert attempt(clients[0], official.email, official.password).status_code == 429
    finally:
        first.extensions["hrcnet"].engine.dispose()
        second.extensions["hrcnet"].engine.dispose()


def test_throttle_table_is_pruned(app: Flask, web: FlaskClient, clock: Clock) -> None:
    for i in range(4):
        attempt(web, f"spray{i}@example.org", "wrong password here", address=f"192.0.2.{i + 1}")
    assert throttle_rows(app) == 8  # 4 accounts + 4 addresses
    clock.advance(seconds=WINDOW_SECONDS + 1)
    attempt(web, "late@example.org", "wrong password here", address="192.0.2.200")
    assert throttle_rows(app) == 2  # only the late attempt's account and address are left


def test_wrong_current_password_on_the_change_page_is_throttled(
    web: FlaskClient, official: Caller
) -> None:
    assert attempt(web, official.email, official.password).status_code == 302
    answers = []
    for _ in range(ACCOUNT_LIMIT):
        token = csrf_token(web, "/account/password")
        answers.append(
            web.post(
                "/account/password",
                data={
                    "csrf_token": token,
                    "current_password": "wrong password here",
                    "new_password": "an entirely new passphrase",
                    "repeat_password": "an entirely new passphrase",
                },
                environ_base={"REMOTE_ADDR": "192.0.2.10"},
            ).status_code
        )
    assert answers == [400] * (ACCOUNT_LIMIT - 1) + [429]


# --- password policy ------------------------------------------------------------------------

REFUSED = [
    ("kx8#Tq2mWv9", "11 characters"),
    ("aaaaaaaaaaaa", "one character repeated"),
    ("abcabcabcabc", "short piece repeated"),
    ("password1234", "common list"),
    ("Password2024!", "common word with digits and symbols"),
    ("iloveyou iloveyou", "common word repeated"),
    ("abcdefghijklm", "alphabet run"),
    ("123456789012", "digit run"),
    ("qwertyuiopasd", "keyboard run"),
    ("ana@gent.example!", "contains the e-mail"),
    ("Gent2024!!!!", "city name plus trivial additions"),
    ("ana.gent 1234567", "e-mail local part plus a run"),
]
ACCEPTED = [
    ("kx8#Tq2mWv9p", "12 random characters"),
    (GOOD_PASSWORD, "a passphrase"),
    ("intelligent design matters", "contains 'gent' but long without it"),
]


@pytest.mark.parametrize(("password", "why"), REFUSED, ids=[w for _p, w in REFUSED])
def test_policy_refuses(db: Callable[[], Any], clock: Clock, password: str, why: str) -> None:
    with pytest.raises(InvalidInputError) as refused, db() as session:
        users.create_user(
            session,
            email="ana@gent.example",
            password=password,
            role="official",
            now=clock(),
            **({"city_words": ("be-gent", "Gent")} if "Gent" in password else {}),
        )
    assert refused.value.code == "weak_password", why
    assert refused.value.errors["password"] and password not in str(refused.value.errors)
    with db() as session:
        assert session.scalar(select(User).where(User.email == "ana@gent.example")) is None


@pytest.mark.parametrize(("password", "why"), ACCEPTED, ids=[w for _p, w in ACCEPTED])
def test_policy_accepts(db: Callable[[], Any], clock: Clock, password: str, why: str) -> None:
    with db() as session:
        users.create_user(
            session,
            email="ana@gent.example",
            password=password,
            role="official",
            now=clock(),
            city_words=("be-gent", "Gent"),
        )
    with db() as session:
        assert users.authenticate(session, "ana@gent.example", password) is not None, why


# --- sessions end at logout and at a password change ----------------------------------------


def _session_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def _with_cookie(app: Flask, value: str) -> FlaskClient:
    replay = app.test_client()
    replay.set_cookie("session", value)
    return replay


def test_cookie_copied_before_logout_is_refused_after_it(
    app: Flask, web: FlaskClient, official: Caller
) -> None:
    assert attempt(web, official.email, official.password).status_code == 302
    copied = _session_cookie(web)
    assert signed_in_as(_with_cookie(app, copied)) == official.email  # the copy works now
    token = csrf_token(web, "/")
    assert web.post("/logout", data={"csrf_token": token}).status_code == 302

    replay = _with_cookie(app, copied)
    protected = replay.get("/enter")
    assert protected.status_code == 302 and "/login" in protected.headers["Location"]
    assert signed_in_as(replay) is None
    # Signing in again works and gives a cookie that works.
    assert attempt(web, official.email, official.password).status_code == 302
    assert signed_in_as(web) == official.email


def _change_password(client: FlaskClient, current: str, new: str, repeat: str | None = None) -> Any:
    token = csrf_token(client, "/account/password")
    return client.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current_password": current,
            "new_password": new,
            "repeat_password": new if repeat is None else repeat,
        },
    )


def test_password_change_ends_the_other_sessions(app: Flask, official: Caller) -> None:
    here, elsewhere = app.test_client(), app.test_client()
    assert attempt(here, official.email, official.password).status_code == 302
    assert attempt(elsewhere, official.email, official.password).status_code == 302
    old_cookie_here = _session_cookie(here)
    new_password = "a different long passphrase"

    changed = _change_password(here, official.password, new_password)
    assert changed.status_code == 302
    assert signed_in_as(here) == official.email  # this browser got a fresh cookie
    assert signed_in_as(elsewhere) is None
    assert signed_in_as(_with_cookie(app, old_cookie_here)) is None
    fresh = app.test_client()
    assert attempt(fresh, official.email, official.password).status_code == 400
    assert attempt(fresh, official.email, new_password).status_code == 302


def test_password_change_page_refuses_weak_or_mismatched(app: Flask, official: Caller) -> None:
    here = app.test_client()
    assert attempt(here, official.email, official.password).status_code == 302
    weak = _change_password(here, official.password, "aaaaaaaaaaaa")
    assert weak.status_code == 400 and "repeated" in weak.get_data(as_text=True)
    differ = _change_password(here, official.password, "a different long passphrase", "other")
    assert differ.status_code == 400 and "differ" in differ.get_data(as_text=True)
    # Nothing changed: still signed in, the old password still works.
    assert signed_in_as(here) == official.email
    assert attempt(app.test_client(), official.email, official.password).status_code == 302


def test_cookie_without_session_version_is_refused(app: Flask, official: Caller) -> None:
    """Cookies issued before this change (``_user_id`` = the bare id) no longer sign in."""
    client = app.test_client()
    with app.extensions["hrcnet"].sessions() as session:
        user_id = session.scalar(select(User.id).where(User.email == official.email))
    with client.session_transaction() as cookie_session:
        cookie_session["_user_id"] = str(user_id)
        cookie_session["_fresh"] = True
    assert signed_in_as(client) is None


# --- Secure cookies -------------------------------------------------------------------------


def _cookie_headers(response: Any) -> list[str]:
    return [v for k, v in response.headers.items() if k.lower() == "set-cookie"]


def test_cookies_secure_when_base_url_is_https(
    node: NodeHandle, clock: Clock, official: Caller
) -> None:
    https_app = _make_app(node, clock, base_url="https://gent.example.org")
    try:
        client = https_app.test_client()
        base = "https://gent.example.org"
        page = client.get("/login", base_url=base)
        token = page.get_data(as_text=True).split('name="csrf_token" type="hidden" value="')[1]
        token = token.split('"', 1)[0]
        signed = client.post(
            "/login",
            base_url=base,
            data={"email": official.email, "password": official.password, "csrf_token": token},
            headers={"Referer": f"{base}/login"},  # Flask-WTF checks it over https
        )
        assert signed.status_code == 302
        for response in (page, signed):
            cookies = _cookie_headers(response)
            assert cookies and all("; Secure" in c for c in cookies), cookies
    finally:
        https_app.extensions["hrcnet"].engine.dispose()


def test_cookies_not_secure_when_base_url_is_http(web: FlaskClient, official: Caller) -> None:
    page = web.get("/login")
    cookies = _cookie_headers(page)
    assert cookies and not any("Secure" in c for c in cookies)
    # The local demo over http keeps working: the cookie comes back and signs in.
    assert attempt(web, official.email, official.password).status_code == 302
    assert signed_in_as(web) == official.email


# --- next ------------------------------------------------------------------------------------

OFF_SITE = [
    "/%09/evil.example",
    "/\t/evil.example",
    "//evil.example",
    "/\\evil.example",
    "/\\/evil.example",
    "https://evil.example",
    "/ok\r\nSet-Cookie: x=1",
    "/ok%0d%0aSet-Cookie:%20x=1",
    "javascript:alert(1)",
    " /x",
    "/%2F%2Fevil",
    "/%2f%5cevil",
    "/%252F%252Fevil",
    "/\x00/evil.example",
    "/\u2028/evil.example",
    "/%E2%80%A8/evil.example",
    "\\\\evil.example",
    "",
]
LOCAL = ["/catalogue", "/reviews?x=1", "/catalogue/HRC-HOU-01", "/caf%C3%A9"]


def test_next_accepted_only_as_a_local_path(web: FlaskClient, official: Caller) -> None:
    wrong = {}
    for target in OFF_SITE:
        response = attempt(web, official.email, official.password, next_url=target)
        if "\x00" in target and response.status_code == 422 and "Location" not in response.headers:
            continue  # refused before the login by the input guard (NUL in the query string)
        if response.status_code != 302 or response.headers["Location"] != "/":
            wrong[target] = (response.status_code, response.headers.get("Location"))
    for target in LOCAL:
        response = attempt(web, official.email, official.password, next_url=target)
        if response.status_code != 302 or response.headers["Location"] != target:
            wrong[target] = (response.status_code, response.headers.get("Location"))
    assert wrong == {}


# --- equal work for known and unknown accounts ----------------------------------------------


def test_one_hash_check_whoever_the_account(
    app: Flask, web: FlaskClient, official: Caller, db: Callable[[], Any], monkeypatch: Any
) -> None:
    with db() as session:
        sleeper = users.create_user(
            session,
            email="inactive@example.org",
            password=GOOD_PASSWORD,
            role="viewer",
            now=app.extensions["hrcnet"].now(),
        )
        sleeper.active = False
    calls: list[str] = []
    real_check, real_generate = users.check_password_hash, users.generate_password_hash

    def counting_check(pwhash: str, password: str) -> bool:
        calls.append("check")
        return real_check(pwhash, password)

    def counting_generate(password: str, *args: Any, **kwargs: Any) -> str:
        calls.append("generate")
        return real_generate(password, *args, **kwargs)

    monkeypatch.setattr(users, "check_password_hash", counting_check)
    monkeypatch.setattr(users, "generate_password_hash", counting_generate)
    work = {}
    for case, email in (
        ("known, wrong password", official.email),
        ("unknown", "nobody@example.org"),
        ("inactive", "inactive@example.org"),
    ):
        calls.clear()
        assert attempt(web, email, "wrong password here").status_code == 400
        work[case] = list(calls)
    assert work == {
        "known, wrong password": ["check"],
        "unknown": ["check"],
        "inactive": ["check"],
    }
    # ... and the dummy hash costs what a real one costs: same method and parameters.
    with db() as session:
        real_hash = session.scalar(select(User.password_hash).where(User.email == official.email))
    assert users.dummy_password_hash().split("$")[0] == real_hash.split("$")[0]


def test_concurrent_failures_are_all_counted(app: Flask, clock: Clock) -> None:
    """Workers failing at the same moment lose no count (no read-modify-write race)."""
    import threading

    from node.db import session_scope
    from node.services import throttle

    runtime = app.extensions["hrcnet"]
    rule = throttle.ThrottleRule.from_config(runtime.config)
    key = throttle.account_key("target@example.org")
    start = threading.Barrier(6)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            start.wait(timeout=30)
            for _ in range(3):
                with session_scope(runtime.sessions) as session:
                    throttle.record_failure(session, key, rule, now=clock())
        except BaseException as exc:  # reported below: a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [] and not any(thread.is_alive() for thread in threads)
    with runtime.sessions() as session:
        assert session.scalar(text("SELECT failures FROM login_throttles")) == 18
