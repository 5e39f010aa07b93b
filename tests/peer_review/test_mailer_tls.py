"""Mail over TLS with login (issue 17): a real aiosmtpd on 127.0.0.1 with a throwaway
self-signed certificate made here, STARTTLS or implicit TLS, and the password from a file or
the environment, never from node.toml."""

from __future__ import annotations

import ipaddress
import shutil
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from node.config import ConfigError, load_config, write_config
from peer_review.mailer import MailError, mailer_for
from tests.peer_review.conftest import MAIL_FROM, Sink, free_port

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
USER, PASSWORD = "gent-node", "s3cret-relay-pass"


@dataclass
class Certificate:
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1 (and localhost), valid for a day."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hrcnet test relay")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.now(UTC) - timedelta(minutes=5))
        .not_valid_after(datetime.now(UTC) + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "relay.pem", folder / "relay.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Certificate(cert_file, key_file)


@dataclass
class Relay:
    """What the relay saw: the messages, and every login attempt (user, password)."""

    host: str
    port: int
    sink: Sink
    logins: list[tuple[str, str]] = field(default_factory=list)


def _authenticator(relay: Relay) -> Any:
    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        user, password = data.login.decode(), data.password.decode()
        relay.logins.append((user, password))
        return AuthResult(success=(user, password) == (USER, PASSWORD), handled=False)

    return check


@pytest.fixture
def relay_factory(certificate: Certificate) -> Iterator[Any]:
    started: list[Controller] = []

    def start(mode: str) -> Relay:
        relay = Relay("127.0.0.1", free_port(), Sink())
        kwargs: dict[str, Any] = {
            "authenticator": _authenticator(relay),
            "auth_require_tls": True,
        }
        if mode == "starttls":
            # The relay refuses MAIL before STARTTLS: a received message proves TLS was used.
            kwargs.update(tls_context=certificate.server_context(), require_starttls=True)
            controller = Controller(relay.sink, hostname=relay.host, port=relay.port, **kwargs)
        elif mode == "tls":
            # aiosmtpd only counts STARTTLS as TLS for AUTH; here TLS is there from the first byte.
            kwargs["auth_require_tls"] = False
            controller = Controller(
                relay.sink,
                hostname=relay.host,
                port=relay.port,
                ssl_context=certificate.server_context(),
                **kwargs,
            )
        else:  # a relay that does not offer STARTTLS
            controller = Controller(
                relay.sink, hostname=relay.host, port=relay.port, auth_require_tls=False,
                authenticator=_authenticator(relay),
            )  # fmt: skip
        controller.start()
        started.append(controller)
        return relay

    yield start
    for controller in started:
        controller.stop()


@pytest.fixture
def node_dir(template_node: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("NODE_SMTP_PASSWORD", raising=False)
    target = tmp_path / "node"
    shutil.copytree(template_node, target)
    return target


def password_file(node_dir: Path, mode: int = 0o600) -> str:
    path = node_dir / "smtp_password"
    path.write_text(PASSWORD + "\n")
    path.chmod(mode)
    return path.name


def mail_config(node_dir: Path, relay: Relay, certificate: Certificate, **extra: Any) -> Any:
    values = {
        "smtp_host": relay.host,
        "smtp_port": relay.port,
        "mail_from": MAIL_FROM,
        "smtp_ca_file": str(certificate.cert_file),
        "smtp_username": USER,
        **extra,
    }
    return load_config(node_dir, values, environ={})


def send_one(config: Any) -> None:
    with mailer_for(config, timeout=5) as mailer:
        mailer.send("ana@gent.example", "Review due", "Please answer.", now=NOW)


@pytest.mark.parametrize("mode", ["starttls", "tls"])
def test_tls_and_login_with_the_password_from_a_file(
    relay_factory: Any, certificate: Certificate, node_dir: Path, mode: str
) -> None:
    relay = relay_factory(mode)
    config = mail_config(
        node_dir, relay, certificate, smtp_security=mode, smtp_password_file=password_file(node_dir)
    )
    send_one(config)
    assert relay.logins == [(USER, PASSWORD)]
    assert [r.rcpt_tos for r in relay.sink.received] == [["ana@gent.example"]]


def test_password_from_the_environment(
    relay_factory: Any, certificate: Certificate, node_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    relay = relay_factory("starttls")
    monkeypatch.setenv("NODE_SMTP_PASSWORD", PASSWORD)
    send_one(mail_config(node_dir, relay, certificate, smtp_security="starttls"))
    assert relay.logins == [(USER, PASSWORD)]
    assert len(relay.sink.received) == 1


def test_a_relay_without_starttls_gets_neither_the_password_nor_the_message(
    relay_factory: Any, certificate: Certificate, node_dir: Path
) -> None:
    """The downgrade: an attacker strips STARTTLS from the EHLO answer. No fallback to clear."""
    relay = relay_factory("plain")
    config = mail_config(
        node_dir, relay, certificate, smtp_security="starttls",
        smtp_password_file=password_file(node_dir),
    )  # fmt: skip
    with pytest.raises(MailError, match="does not offer STARTTLS"):
        send_one(config)
    assert relay.logins == [] and relay.sink.received == []


def test_an_untrusted_certificate_is_refused(
    relay_factory: Any, certificate: Certificate, node_dir: Path
) -> None:
    relay = relay_factory("tls")
    config = mail_config(
        node_dir, relay, certificate, smtp_security="tls", smtp_ca_file=None,
        smtp_password_file=password_file(node_dir),
    )  # fmt: skip
    with pytest.raises(MailError, match="TLS failed"):
        send_one(config)
    assert relay.logins == [] and relay.sink.received == []


def test_a_wrong_password_is_refused_and_nothing_is_sent(
    relay_factory: Any, certificate: Certificate, node_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    relay = relay_factory("starttls")
    monkeypatch.setenv("NODE_SMTP_PASSWORD", "not-it")
    with pytest.raises(MailError, match="login refused"):
        send_one(mail_config(node_dir, relay, certificate, smtp_security="starttls"))
    assert relay.logins == [(USER, "not-it")] and relay.sink.received == []


@pytest.mark.parametrize(
    ("security", "file_mode", "why"),
    [
        ("none", 0o600, "needs smtp_security"),  # a password in clear on the wire
        ("starttls", 0o640, "readable by others"),  # a password others can read
        ("starttls", None, "no SMTP password"),
    ],
)
def test_refused_before_connecting(
    relay_factory: Any,
    certificate: Certificate,
    node_dir: Path,
    security: str,
    file_mode: int | None,
    why: str,
) -> None:
    relay = relay_factory("starttls")
    extra: dict[str, Any] = {"smtp_security": security}
    if file_mode is not None:
        extra["smtp_password_file"] = password_file(node_dir, file_mode)
    with pytest.raises(MailError, match=why):
        send_one(mail_config(node_dir, relay, certificate, **extra))
    assert relay.logins == [] and relay.sink.received == []


def test_a_password_in_node_toml_is_refused(node_dir: Path) -> None:
    config = load_config(node_dir, environ={}).values
    write_config(
        node_dir,
        {k: config[k] for k in ("city_id", "name", "country", "region", "base_url")}
        | {"smtp_password": PASSWORD},
    )
    with pytest.raises(ConfigError, match="smtp_password"):
        load_config(node_dir, environ={})
