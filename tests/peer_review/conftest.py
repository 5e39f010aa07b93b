"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, and helpers to run the
reminder sweep the way the scheduler does."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from sqlalchemy import select

from node.config import NodeConfig
from node.models import User
from node.runtime import NodeRuntime
from tests.support import Caller

MAIL_FROM = "hrcnet@gent.example"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])


class Sink:
    """aiosmtpd handler: answers ``refuse[address]`` to those addresses, keeps every message."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.refuse: dict[str, str] = {}

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook names)
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class LocalSmtp:
    """An SMTP server on 127.0.0.1 that can be stopped and started again on the same port."""

    def __init__(self) -> None:
        self.host, self.port = "127.0.0.1", free_port()
        self.sink = Sink()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.sink, hostname=self.host, port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def received(self) -> list[Received]:
        return self.sink.received

    def take(self) -> list[tuple[str, str]]:
        """(recipient, subject) of every message received since the last call, sorted."""
        got = sorted((", ".join(r.rcpt_tos), r.subject) for r in self.sink.received)
        self.sink.received.clear()
        return got


@pytest.fixture
def smtp() -> Iterator[LocalSmtp]:
    server = LocalSmtp()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def with_mail(app: Flask, smtp: LocalSmtp | None) -> NodeRuntime:
    """The app's runtime with the node configured to send through ``smtp`` (or not at all)."""
    runtime: NodeRuntime = app.extensions["hrcnet"]
    values = dict(runtime.config.values)
    if smtp is None:
        values.update(smtp_host=None, mail_from=None)
    else:
        values.update(smtp_host=smtp.host, smtp_port=smtp.port, mail_from=f"Gent <{MAIL_FROM}>")
    return dataclasses.replace(runtime, config=NodeConfig(runtime.config.data_dir, values))


def user_id(db: Any, who: Caller) -> int:
    """The database id of a user made by the ``create_user`` fixture."""
    with db() as session:
        found = session.scalar(select(User.id).where(User.email == who.email))
        assert found is not None
        return int(found)
