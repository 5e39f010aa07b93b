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
- The SMTP server is trusted as a relay (usually the host's own MTA on loopback or the city's
  relay); no credentials are stored in the node's configuration and no TLS is negotiated here.
  Messages carry a deadline's title and a link to the node, never a token or a password.
"""

from __future__ import annotations

import re
import smtplib
import uuid
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from types import TracebackType
from typing import Any, Protocol

from schemas.mail import parse_sender, valid_address

DEFAULT_TIMEOUT_S = 10.0
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
        self, host: str, port: int, mail_from: str, *, timeout: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        name, address = parse_sender(mail_from)
        self.sender = (header_text(name, 100), address)
        self.description = f"e-mail through SMTP {host}:{port}"
        self._smtp: smtplib.SMTP | None = None
        self.down: str | None = None  # why the server is unusable for the rest of this run

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
            self._smtp = smtplib.SMTP(
                self.host, self.port, timeout=self.timeout, local_hostname=helo
            )
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


def _reply(code: int, text: Any) -> str:
    raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return header_text(f"{code} {raw}", 200)


def mailer_for(config: Any, *, timeout: float = DEFAULT_TIMEOUT_S) -> SmtpMailer | None:
    """The node's mailer, or ``None`` when no ``smtp_host`` is configured (in-app only).

    ``mail_from`` was checked when the configuration loaded (``schemas.config``).
    """
    if not config.smtp_host:
        return None
    return SmtpMailer(config.smtp_host, config.smtp_port, config.mail_from, timeout=timeout)
