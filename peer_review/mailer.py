"""E-mail through the SMTP server the node's operator configured (``smtp_host``, ``smtp_port``,
``mail_from``). Without ``smtp_host`` there is no mailer and notifications are in-app only.

Security choices, in one place:

- Every header value is built here, never copied raw: subjects lose control characters (so a
  title holding CR/LF cannot add a header: header injection) and are cut to a sane length;
  addresses must match a plain ``local@domain`` form (no display names, commas, angle brackets
  or non-ASCII) or the message is refused before any connection is made.
- The envelope recipient is passed to the server explicitly (``to_addrs``): what the server
  delivers to is exactly the one checked address, whatever the headers say.
- Bodies are plain text: nothing a user typed is ever interpreted as HTML in a mail client.
- ``Auto-Submitted: auto-generated`` (RFC 3834) keeps vacation responders from answering.
- Connections have a timeout, and once the server is unreachable the mailer stops trying for the
  rest of the run (a down server costs one timeout per sweep, not one per recipient).
- Transport (``smtp_security``): ``none`` for the host's own MTA on loopback; ``starttls``
  upgrades the connection and refuses to send at all when the server does not offer STARTTLS
  (a network attacker who strips the offer must not get the password or the messages in
  clear); ``tls`` speaks TLS from the first byte. Certificates are verified against the
  system's CAs (or ``smtp_ca_file``) and the host name, always: no "accept any certificate".
- Login (``smtp_username``) happens only over TLS, and the password is never in ``node.toml``:
  it comes from ``smtp_password_file`` (which must not be readable by group or others, like
  the signing key) or the ``NODE_SMTP_PASSWORD`` variable. Messages carry a deadline's title
  and a link to the node, never a token or a password.
"""

from __future__ import annotations

import os
import re
import smtplib
import ssl
import uuid
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from schemas.mail import parse_sender, valid_address

DEFAULT_TIMEOUT_S = 10.0
PASSWORD_ENV = "NODE_SMTP_PASSWORD"  # noqa: S105 - the name of a variable, not a secret
SECURITY_MODES = ("none", "starttls", "tls")
MAX_SUBJECT = 200
MAX_BODY = 20_000

_POLICY = policy.default.clone(max_line_length=998)  # RFC 5322's hard limit
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


class MailError(Exception):
    """A message was not sent. ``permanent`` when sending it again cannot help (5xx refusal)."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class Mailer(Protocol):
    """What the reminder sweep needs: send one plain-text message to one address."""

    description: str

    def send(self, to: str, subject: str, body: str, *, now: datetime) -> None: ...


def header_text(value: str, limit: int = MAX_SUBJECT) -> str:
    """One line of text safe for a header: control characters become spaces, then cut."""
    flat = " ".join(_CONTROL.sub(" ", value).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def compose(
    sender: tuple[str, str], to: str, subject: str, body: str, *, now: datetime
) -> EmailMessage:
    """Build the message; refuses (``MailError``, permanent) an address we would not send to."""
    if not valid_address(to):
        raise MailError("not a plain e-mail address", permanent=True)
    name, address = sender
    # No folding for our short headers: Python folds a long subject before its first word,
    # which clients then show with a leading space.
    message = EmailMessage(policy=_POLICY)
    message["From"] = formataddr((name, address)) if name else address
    message["To"] = to
    message["Subject"] = header_text(subject)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = f"<{uuid.uuid4().hex}@{address.rsplit('@', 1)[1]}>"
    message["Auto-Submitted"] = "auto-generated"
    # Quoted-printable keeps the message 7-bit clean for any relay (no 8BITMIME needed).
    message.set_content(body[:MAX_BODY], cte="quoted-printable")
    return message


def _is_permanent(code: int) -> bool:
    return 500 <= code < 600


class SmtpMailer:
    """Sends through one SMTP connection, opened on the first message and kept for the run.

    Use it as a context manager (or call :meth:`close`): the connection is closed politely
    (``QUIT``) at the end.
    """

    def __init__(
        self,
        host: str,
        port: int,
        mail_from: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        security: str = "none",
        username: str | None = None,
        password: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if security not in SECURITY_MODES:
            raise ValueError(f"smtp security must be one of {SECURITY_MODES}")
        self.host, self.port, self.timeout = host, port, timeout
        name, address = parse_sender(mail_from)
        self.sender = (header_text(name, 100), address)
        self.security = security
        self.username, self.password = username, password
        # Verifying (CERT_REQUIRED, host name checked): the default context, never a lax one.
        self.ssl_context = ssl_context or ssl.create_default_context()
        secure = "" if security == "none" else f", {security}"
        self.description = f"e-mail through SMTP {host}:{port}{secure}"
        self._smtp: smtplib.SMTP | None = None
        self.down: str | None = None  # why the server is unusable for the rest of this run
        if username and security == "none":
            # A password in clear on the wire: refused before any connection is made.
            self.down = "SMTP login needs smtp_security = starttls or tls"
        elif username and not password:
            self.down = (
                f"SMTP login configured without a password (smtp_password_file or {PASSWORD_ENV})"
            )

    def __enter__(self) -> SmtpMailer:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            # EHLO names the sender's domain: socket.getfqdn() (smtplib's default) may wait on a
            # reverse DNS lookup, and tells the relay nothing useful about us.
            helo = self.sender[1].rsplit("@", 1)[1]
            smtp: smtplib.SMTP
            if self.security == "tls":
                smtp = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, local_hostname=helo,
                    context=self.ssl_context,
                )  # fmt: skip
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout, local_hostname=helo)
            self._smtp = smtp  # closed by _drop whatever happens next
            if self.security == "starttls":
                smtp.ehlo()
                if not smtp.has_extn("starttls"):
                    # Stripping the offer is the classic downgrade: never fall back to clear.
                    raise _NoTls("the SMTP server does not offer STARTTLS")
                smtp.starttls(context=self.ssl_context)
                smtp.ehlo()
            if self.username:
                smtp.ehlo_or_helo_if_needed()
                if not smtp.has_extn("auth"):
                    raise _NoTls("the SMTP server offers no login (AUTH)")
                # One attempt with one mechanism (smtplib.login would try each in turn, and
                # relays hang up after repeated failures); over TLS, PLAIN is the usual one.
                offered = (smtp.esmtp_features.get("auth") or "").upper().split()
                mechanism = "PLAIN" if "PLAIN" in offered or "LOGIN" not in offered else "LOGIN"
                smtp.user, smtp.password = self.username, self.password or ""
                authenticate = smtp.auth_plain if mechanism == "PLAIN" else smtp.auth_login
                smtp.auth(mechanism, authenticate, initial_response_ok=True)
        return self._smtp

    def _unusable(self, reason: str) -> MailError:
        self.down = reason
        self._drop()
        return MailError(reason)

    def send(self, to: str, subject: str, body: str, *, now: datetime) -> None:
        """Send one message; raises :class:`MailError` (``permanent`` or not) when it was not."""
        try:
            message = compose(self.sender, to, subject, body, now=now)
        except ValueError as exc:  # the email package refused a header: sending cannot help
            raise MailError(header_text(f"message not built: {exc}"), permanent=True) from exc
        if self.down is not None:
            raise MailError(self.down)
        try:
            self._connection().send_message(message, from_addr=self.sender[1], to_addrs=[to])
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()), (0, b""))
            raise MailError(_reply(code, text), permanent=_is_permanent(code)) from exc
        except _NoTls as exc:
            raise self._unusable(str(exc)) from exc
        except smtplib.SMTPAuthenticationError as exc:
            raise self._unusable(
                f"SMTP login refused: {_reply(exc.smtp_code, exc.smtp_error)}"
            ) from exc
        except ssl.SSLError as exc:  # incl. certificate verification: before OSError below
            raise self._unusable(f"SMTP TLS failed: {exc.__class__.__name__}") from exc
        except smtplib.SMTPSenderRefused as exc:
            # Our own address is refused: every message would be; a configuration matter.
            reason = f"sender refused: {_reply(exc.smtp_code, exc.smtp_error)}"
            raise self._unusable(reason) from exc
        except smtplib.SMTPDataError as exc:
            raise MailError(
                _reply(exc.smtp_code, exc.smtp_error), permanent=_is_permanent(exc.smtp_code)
            ) from exc
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError) as exc:
            raise self._unusable(f"SMTP server unreachable: {exc.__class__.__name__}") from exc
        except smtplib.SMTPException as exc:  # (a subclass of OSError: caught before it)
            self._drop()  # unknown state: start the next message on a fresh connection
            raise MailError(f"SMTP error: {exc.__class__.__name__}") from exc
        except OSError as exc:  # refused, reset, timed out, no route
            raise self._unusable(f"SMTP server unreachable: {exc.__class__.__name__}") from exc

    def _drop(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
            self._smtp = None

    def close(self) -> None:
        """Say QUIT and close the connection (if one was opened)."""
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass  # the server went away first: nothing left to close politely
            finally:
                self._drop()


class _NoTls(smtplib.SMTPException):
    """The server did not offer the TLS (or the login) the configuration requires."""


def _reply(code: int, text: Any) -> str:
    raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return header_text(f"{code} {raw}", 200)


def mailer_for(config: Any, *, timeout: float = DEFAULT_TIMEOUT_S) -> SmtpMailer | None:
    """The node's mailer, or ``None`` when no ``smtp_host`` is configured (in-app only).

    ``mail_from`` was checked when the configuration loaded (``schemas.config``).
    """
    if not config.smtp_host:
        return None
    values = getattr(config, "values", {})
    data_dir = Path(getattr(config, "data_dir", "."))
    ca_file = values.get("smtp_ca_file")
    context = ssl.create_default_context(cafile=str(data_dir / ca_file) if ca_file else None)
    username = values.get("smtp_username")
    password, problem = (None, None)
    if username:
        password, problem = smtp_password(values.get("smtp_password_file"), data_dir)
    mailer = SmtpMailer(
        config.smtp_host, config.smtp_port, config.mail_from, timeout=timeout,
        security=values.get("smtp_security", "none"), username=username, password=password,
        ssl_context=context,
    )  # fmt: skip
    if problem:
        mailer.down = problem
    return mailer


def smtp_password(password_file: str | None, data_dir: Path) -> tuple[str | None, str | None]:
    """The SMTP password from its file (relative to the data dir) or ``NODE_SMTP_PASSWORD``;
    ``(password, None)`` or ``(None, why not)``. A file others can read is refused, like a
    signing key: the password must be presumed known."""
    if password_file:
        path = data_dir / password_file
        try:
            mode = path.stat().st_mode
            if mode & 0o077:
                return None, f"{password_file} is readable by others: chmod 600 it"
            return path.read_text(encoding="utf-8").strip("\r\n"), None
        except OSError as exc:
            return None, f"SMTP password file unreadable: {exc.__class__.__name__}"
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env:
        return from_env, None
    return None, f"no SMTP password (smtp_password_file or {PASSWORD_ENV})"
