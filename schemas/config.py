"""Schema of a node's configuration (``DATA_DIR/node.toml`` + ``NODE_*`` environment)."""

from __future__ import annotations

import ipaddress
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from schemas.fields import CityId
from schemas.mail import parse_sender

ROLES = ("city", "secretariat")


class NodeConfigSchema(Schema):
    """Validated node configuration; unknown keys are refused so a typo never goes unnoticed."""

    class Meta:
        unknown = RAISE

    city_id = CityId(required=True)
    name = fields.String(required=True, validate=validate.Length(1, 200))
    country = fields.String(
        required=True,
        validate=validate.Regexp(
            r"^[A-Z]{2}$", error="country must be an ISO 3166-1 alpha-2 code such as BE"
        ),
    )
    region = fields.String(required=True, validate=validate.Length(1, 100))
    base_url = fields.Url(required=True, require_tld=False, schemes={"http", "https"})
    role = fields.String(load_default="city", validate=validate.OneOf(ROLES))
    database_url = fields.String(required=True)
    signing_key_file = fields.String(load_default="signing_key.pem")
    secret_key_file = fields.String(load_default="secret_key")
    max_body_bytes = fields.Integer(load_default=1_048_576, validate=validate.Range(1024, 64 << 20))
    # Evidence attachments (reports, photos): the largest file accepted, in bytes. A whole page
    # request is also bounded by max_body_bytes, so the smaller of the two applies.
    max_attachment_bytes = fields.Integer(
        load_default=1_000_000, validate=validate.Range(1024, 64 << 20)
    )
    small_cell_threshold = fields.Integer(load_default=5, validate=validate.Range(0, 1000))
    # Benchmarks publish a group only when at least this many cities reported in it.
    benchmark_min_cities = fields.Integer(load_default=5, validate=validate.Range(1, 1000))
    default_locale = fields.String(load_default="en", validate=validate.Regexp(r"^[a-z]{2}$"))
    scheduler = fields.Boolean(load_default=True)
    # A gunicorn worker grown by a load is replaced by a fresh fork after this many seconds
    # without a request (node.memory); 0: never.
    worker_recycle_idle_seconds = fields.Integer(
        load_default=30, validate=validate.Range(0, 86_400)
    )
    # ... when its private memory grew by this many MB since its fork.
    worker_recycle_growth_mb = fields.Integer(load_default=32, validate=validate.Range(1, 65_536))
    # The node's figures are generated sample data (the demo's cities): every page, export
    # and signed summary says so, so a sample figure is never mistaken for a city's real one.
    sample_data = fields.Boolean(load_default=False)
    # How often the scheduler sends what waits to be sent (envelopes, twinning requests, key
    # fetches, benchmark groups); unset: each job's own interval (5-10 s). The demo sets 1 s.
    delivery_interval_seconds = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(1, 300)
    )
    # The licence of the published data (the public portal and its downloads): an SPDX id, the
    # name people read and the link to its text. http(s) only: the link is shown on pages.
    data_licence = fields.String(
        load_default="CC-BY-4.0", validate=validate.Regexp(r"^[A-Za-z0-9.+-]{1,64}$")
    )
    data_licence_name = fields.String(
        load_default="Creative Commons Attribution 4.0 International (CC BY 4.0)",
        validate=validate.Length(1, 200),
    )
    data_licence_url = fields.Url(
        load_default="https://creativecommons.org/licenses/by/4.0/",
        require_tld=False,
        schemes={"http", "https"},
    )
    # The languages the annual report's PDF is printed in, comma separated (e.g. "en,sw"; empty:
    # the six the portal speaks). Visitors of another language get the first one's PDF.
    annual_report_languages = fields.String(
        load_default="",
        validate=validate.Regexp(
            r"^(|[a-z]{2}(,[a-z]{2})*)$",
            error="annual_report_languages must be language codes separated by commas",
        ),
    )
    # Reminders by e-mail go through this SMTP server (usually the host's own MTA); without it
    # they are in-app only (also when empty). A host name or IP only: nothing else to parse.
    smtp_host = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(
            r"^[A-Za-z0-9.:\-]{0,253}$", error="smtp_host must be a host name or an IP address"
        ),
    )
    smtp_port = fields.Integer(load_default=25, validate=validate.Range(1, 65535))
    # none: plain SMTP (the host's own MTA on localhost); starttls: upgrade with STARTTLS and
    # refuse to go on without it; tls: implicit TLS from the first byte (usually port 465).
    # Certificates are always verified against the system's CAs and the host name.
    smtp_security = fields.String(
        load_default="none", validate=validate.OneOf(("none", "starttls", "tls"))
    )
    smtp_username = fields.String(load_default=None, allow_none=True)
    # The password is never in node.toml (often readable by more people than the key): a file
    # (mode 0600, path relative to the data dir or absolute) or the NODE_SMTP_PASSWORD variable.
    smtp_password_file = fields.String(load_default=None, allow_none=True)
    # Path to a PEM bundle of CAs to trust instead of the system's (a private relay's CA).
    smtp_ca_file = fields.String(load_default=None, allow_none=True)
    mail_from = fields.String(load_default=None, allow_none=True)
    # Login throttling (docs/security.md): after ``login_max_failures`` failed sign-ins for one
    # account (or ``login_address_max_failures`` from one client address) within
    # ``login_failure_window_seconds``, the account (address) is locked for
    # ``login_lock_seconds``, doubled for each further failure, at most ``login_lock_max_seconds``.
    login_max_failures = fields.Integer(load_default=5, validate=validate.Range(1, 1000))
    login_address_max_failures = fields.Integer(
        load_default=20, validate=validate.Range(1, 100_000)
    )
    login_failure_window_seconds = fields.Integer(
        load_default=900, validate=validate.Range(1, 7 * 86400)
    )
    login_lock_seconds = fields.Integer(load_default=60, validate=validate.Range(1, 86400))
    login_lock_max_seconds = fields.Integer(
        load_default=3600, validate=validate.Range(1, 7 * 86400)
    )
    # How many reverse proxies in front of the node append to X-Forwarded-For. 0 (default): the
    # header is ignored, since any client can send it and would pick its own throttling address.
    trusted_proxy_hops = fields.Integer(load_default=0, validate=validate.Range(0, 10))
    # Peers on loopback, private, link-local... addresses are refused unless this is on (tests,
    # the demo and closed networks set it): a stranger's base_url must not reach internal hosts.
    allow_private_peers = fields.Boolean(load_default=False)
    # Twinning requests from strangers kept waiting for an official's answer: past this many,
    # new ones get 429 (throw-away city ids cannot grow the peers table without limit).
    max_pending_twinning_requests = fields.Integer(
        load_default=50, validate=validate.Range(1, 10_000)
    )
    # Who may read GET /metrics without a token: comma-separated addresses or CIDR networks
    # (e.g. "10.0.0.5, 192.168.1.0/24"), compared with the client address as resolved through
    # trusted_proxy_hops. Empty (default): only an administrator's bearer token. Loopback is not
    # allowed by default because behind a reverse proxy on the same host every client would
    # look like 127.0.0.1.
    metrics_allow = fields.String(load_default="")

    # Community reports (node.community, docs/community.md). The gateways' secrets come from here
    # or from NODE_COMMUNITY_* variables; a gateway without its secret refuses every request.
    community_twilio_auth_token = fields.String(load_default=None, allow_none=True)
    community_africastalking_secret = fields.String(load_default=None, allow_none=True)
    community_generic_secret = fields.String(load_default=None, allow_none=True)
    # Bytes a report (form or webhook) may have, refused with 413 before it is parsed.
    community_max_body_bytes = fields.Integer(
        load_default=16_384, validate=validate.Range(1024, 1_048_576)
    )
    # Reports (and attempts) one source (client address, phone number) may send per window.
    community_rate_limit = fields.Integer(load_default=10, validate=validate.Range(1, 10_000))
    community_rate_window_seconds = fields.Integer(
        load_default=3600, validate=validate.Range(60, 7 * 86400)
    )
    # Categories (replacing the default set) and households per district (derived rates per
    # 10,000 households): tables in node.toml, checked by node.community.categories.
    community_categories = fields.List(fields.Dict(), load_default=None, allow_none=True)
    community_households = fields.Dict(
        keys=fields.String(), values=fields.Integer(), load_default=None, allow_none=True
    )

    @validates_schema
    def _base_url_has_no_trailing_slash(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("base_url", "").endswith("/"):
            raise ValidationError("base_url must not end with '/'", "base_url")

    @validates_schema
    def _metrics_allow_are_networks(self, data: dict[str, Any], **_: Any) -> None:
        for part in str(data.get("metrics_allow", "")).split(","):
            if part.strip():
                try:
                    ipaddress.ip_network(part.strip(), strict=False)
                except ValueError as exc:
                    raise ValidationError(
                        f"{part.strip()!r} is not an address or CIDR network", "metrics_allow"
                    ) from exc

    @validates_schema
    def _mail_from_is_an_address(self, data: dict[str, Any], **_: Any) -> None:
        mail_from = data.get("mail_from")
        if mail_from is not None:
            try:
                parse_sender(mail_from)
            except ValueError as exc:
                raise ValidationError(str(exc), "mail_from") from exc
        elif data.get("smtp_host"):
            raise ValidationError("mail_from is needed when smtp_host is set", "mail_from")
