"""The SMTP mailer on its own: what it accepts to put in headers, how it reports failures."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from node.config import ConfigError, load_config
from peer_review.mailer import MailError, SmtpMailer, compose, header_text, mailer_for
from schemas.mail import parse_sender, valid_address
from tests.peer_review.conftest import MAIL_FROM, LocalSmtp

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("hrcnet@gent.example", ("", "hrcnet@gent.example")),
        ("Gent <hrcnet@gent.example>", ("Gent", "hrcnet@gent.example")),
        (
            '"Ville de Gent" <no-reply+rem@mail.gent.example>',
            ("Ville de Gent", "no-reply+rem@mail.gent.example"),
        ),
    ],
)
def test_sender_forms_accepted(raw: str, parsed: tuple[str, str]) -> None:
    assert parse_sender(raw) == parsed


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "nobody",
        "a@x.example, b@y.example",
        "Gent <a@x.example>, b@y.example",
        "a@x.example\r\nBcc: b@y.example",
        "ünï@gent.example",
        "a@-bad-.example",
    ],
)
def test_sender_forms_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="is not an e-mail address"):
        parse_sender(raw)


def test_addresses_and_header_text() -> None:
    assert valid_address("ana.maria+x@gent.example")
    assert not valid_address("x,evil@gent.example")
    assert not valid_address("<ana@gent.example>")
    assert not valid_address("a" * 250 + "@gent.example")
    assert header_text("a\r\nBcc: x\u2028y\tz") == "a Bcc: x y z"
    assert header_text("é" * 300) == "é" * 199 + "…"


def test_compose_refuses_a_recipient_it_would_not_send_to() -> None:
    with pytest.raises(MailError) as refused:
        compose(("", MAIL_FROM), "a@x.example, b@y.example", "s", "b", now=NOW)
    assert refused.value.permanent
    message = compose(("Gent", MAIL_FROM), "ana@gent.example", "Sujet à accents", "b", now=NOW)
    assert message["Subject"] == "Sujet à accents" and message["Date"].endswith("+0000")


def test_config_needs_a_sender_with_a_server(tmp_path: Path, template_node: Path) -> None:
    assert mailer_for(load_config(template_node)) is None
    assert mailer_for(load_config(template_node, {"smtp_host": ""})) is None
    with pytest.raises(ConfigError, match="mail_from is needed when smtp_host is set"):
        load_config(template_node, {"smtp_host": "127.0.0.1"})
    with pytest.raises(ConfigError, match="smtp_host must be a host name"):
        load_config(template_node, {"smtp_host": "mail.example\r\n", "mail_from": MAIL_FROM})
    config = load_config(
        template_node, {"smtp_host": "mail.gent.example", "smtp_port": 2525, "mail_from": MAIL_FROM}
    )
    mailer = mailer_for(config)
    assert mailer is not None and mailer.description == "e-mail through SMTP mail.gent.example:2525"


def test_temporary_and_permanent_refusals(smtp: LocalSmtp) -> None:
    smtp.sink.refuse["busy@gent.example"] = "450 4.2.1 Mailbox busy, try later"
    smtp.sink.refuse["gone@gent.example"] = "550 5.1.1 No such user"
    with SmtpMailer(smtp.host, smtp.port, MAIL_FROM, timeout=5) as mailer:
        with pytest.raises(MailError) as busy:
            mailer.send("busy@gent.example", "s", "b", now=NOW)
        assert not busy.value.permanent and busy.value.reason.startswith("450 ")
        with pytest.raises(MailError) as gone:
            mailer.send("gone@gent.example", "s", "b", now=NOW)
        assert gone.value.permanent
        mailer.send("ana@gent.example", "s", "b", now=NOW)  # the same connection still works
    assert [r.rcpt_tos for r in smtp.received] == [["ana@gent.example"]]


def test_an_unreachable_server_is_tried_once_per_run() -> None:
    server = LocalSmtp()  # not started yet
    with SmtpMailer(server.host, server.port, MAIL_FROM, timeout=5) as mailer:
        with pytest.raises(MailError) as first:
            mailer.send("ana@gent.example", "s", "b", now=NOW)
        assert not first.value.permanent
        assert mailer.down == "SMTP server unreachable: ConnectionRefusedError"
        server.start()
        try:
            # Up again, but this run has given up on it: no connection, no message.
            with pytest.raises(MailError, match="unreachable"):
                mailer.send("bo@gent.example", "s", "b", now=NOW)
        finally:
            server.stop()
    assert server.received == []
