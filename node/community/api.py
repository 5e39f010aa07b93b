"""``/api/v1/community``: SMS gateway webhooks (public, authenticated per gateway) and the
moderators' report API (bearer token).

The webhooks answer what each gateway expects (TwiML for Twilio, plain text for Africa's
Talking, JSON for ``generic``) and RFC 9457 problem+json for every refusal (401 bad signature,
413 too large, 422, 429 with ``Retry-After``).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, request
from flask.views import MethodView
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_smorest import Blueprint
from marshmallow import ValidationError

from node.api.common import BEARER, items_schema, problems
from node.auth import api_user
from node.community import gateways, services
from node.community.schemas import (
    EvidenceLinkSchema,
    GenericSmsSchema,
    ModerateSchema,
    ReportQuerySchema,
    ReportSchema,
    SmsAnswerSchema,
    TrustedAnswerSchema,
    TrustedSchema,
)
from node.db import session_scope
from node.errors import InvalidInputError, NotFoundError
from node.errors_http import problem_response
from node.input_guard import parse_json_text
from node.permissions import require
from node.runtime import db_session, now, runtime

log = logging.getLogger(__name__)

blp = Blueprint("community", __name__, description="Community reports: SMS webhooks and moderation")


def _problem(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> Any:
    body = {
        "type": "https://hrcnet.org/problems/" + code.replace("_", "-"),
        "title": {401: "Unauthorized", 429: "Too many requests"}.get(status, "Refused"),
        "status": status,
        "detail": detail,
        "code": code,
    }
    return problem_response(body, headers)


def help_text() -> str:
    """The grammar, in the current language, with the node's categories and their numbers."""
    names = ", ".join(
        f"{number} {category.code}"
        for number, category in enumerate(services.categories(runtime().config), start=1)
    )
    return _(
        "Report not understood. Send: CATEGORY DISTRICT description, e.g. EVICTION D04 "
        "families removed today. Categories: %(categories)s",
        categories=names,
    )


def _receive_sms(gateway: str, message_id: str, sender: str, text: str) -> tuple[bool, str, Any]:
    """Parse and record one SMS; returns (accepted, reply, reference or None).

    Rate limited per phone number (its keyed hash), in its own unit of work so refused
    attempts count too.
    """
    node = runtime()
    config = node.config
    key = services.hash_key(node_secret())
    source = services.source_hash(key, "phone", services.normalize_phone(sender))
    with session_scope(node.sessions) as counting:
        services.count_attempt(counting, "sms:" + source, config, now=now())
    session = db_session()
    districts = [code for code, _label in services.district_codes(session)]
    parsed = gateways.parse_message(
        text, services.categories(config), districts, today=now().date()
    )
    with force_locale(parsed.language):
        if parsed.submission is None:
            return False, help_text(), None
        try:
            report, _created = services.submit(
                session,
                parsed.submission,
                config,
                channel="sms",
                source=source,
                now=now(),
                gateway=gateway,
                message_id=message_id or None,
            )
        except InvalidInputError as exc:
            problems_ = "; ".join(
                f"{field}: {' '.join(_(m) for m in messages)}"
                for field, messages in (exc.errors or {}).items()
            )
            return False, help_text() + " (" + problems_ + ")", None
        return (
            True,
            _(
                "Thank you. Your report was received. Reference: %(reference)s",
                reference=report.reference,
            ),
            report.reference,
        )


def node_secret() -> str:
    """The app's secret key (the source-hash key is derived from it)."""
    from flask import current_app

    return str(current_app.config["SECRET_KEY"])


@blp.route("/community/sms/<string:gateway>")
class SmsWebhook(MethodView):
    @blp.doc(
        security=[],
        description="An SMS gateway's webhook; see docs/community.md for each gateway's payload.",
    )
    @blp.response(200, SmsAnswerSchema)
    @problems(blp, 401, 404, 413, 422, 429)
    def post(self, gateway: str) -> Any:
        """Receive one SMS from a gateway (``twilio``, ``africastalking`` or ``generic``)."""
        if gateway not in gateways.GATEWAYS:
            raise NotFoundError(f"No SMS gateway {gateway!r}.", code="unknown_gateway")
        config = runtime().config
        try:
            if gateway == "twilio":
                url = str(config.base_url) + request.full_path.rstrip("?")
                params = list(request.form.items(multi=True))
                gateways.check_twilio(
                    config.values.get("community_twilio_auth_token"),
                    url,
                    params,
                    request.headers.get("X-Twilio-Signature"),
                )
                message = (
                    request.form.get("MessageSid", ""),
                    request.form.get("From", ""),
                    request.form.get("Body", ""),
                )
            elif gateway == "africastalking":
                gateways.check_shared_secret(
                    config.values.get("community_africastalking_secret"),
                    request.headers.get("Authorization"),
                    request.headers.get("X-Community-Secret"),
                )
                message = (
                    request.form.get("id", ""),
                    request.form.get("from", ""),
                    request.form.get("text", ""),
                )
            else:
                body = request.get_data(cache=True)
                gateways.check_generic(
                    config.values.get("community_generic_secret"),
                    request.headers.get("X-Hrcnet-Timestamp"),
                    request.headers.get("X-Hrcnet-Signature"),
                    body,
                    now=now(),
                )
                try:
                    data = GenericSmsSchema().load(parse_json_text(body))
                except (ValueError, ValidationError) as exc:
                    errors = exc.normalized_messages() if isinstance(exc, ValidationError) else None
                    raise InvalidInputError(
                        "The body is not the generic SMS payload (docs/community.md).",
                        errors=errors or {"_schema": ["invalid JSON"]},
                    ) from exc
                message = (data["id"], data["sender"], data["text"])
        except gateways.SignatureError as exc:
            # Logged without the signature or secret: only which gateway and why.
            log.warning("community sms %s refused: %s", gateway, exc.code)
            return _problem(401, exc.code, exc.detail)
        if not message[1].strip():
            raise InvalidInputError("The sender's number is missing.", errors={"from": ["missing"]})
        try:
            accepted, reply, reference = _receive_sms(gateway, *message)
        except services.RateLimitedError as exc:
            return _problem(429, exc.code, exc.detail, {"Retry-After": str(exc.retry_after)})
        if gateway == "twilio":
            return Response(gateways.twiml(reply), 200, mimetype="application/xml")
        if gateway == "africastalking":
            return Response(reply, 200, mimetype="text/plain")
        if not accepted:
            return problem_response(
                {
                    "type": "https://hrcnet.org/problems/report-invalid",
                    "title": "Invalid input",
                    "status": 422,
                    "detail": reply,
                    "code": "report_invalid",
                    "reply": reply,
                }
            )
        return {"accepted": True, "reference": reference, "reply": reply}


@blp.route("/community/reports")
class Reports(MethodView):
    @blp.arguments(ReportQuerySchema, location="query")
    @blp.response(200, items_schema(ReportSchema, "CommunityReportList"))
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Reports for moderators (CSO partners, officials), newest first; contact included."""
        session = db_session()
        rows = services.list_reports(
            session, user=api_user(), state=query.get("state"), limit=query["limit"]
        )
        trusted = services.trusted_sources(session, {r.source_hash for r in rows})
        return {"items": [services.to_wire(r, trusted=r.source_hash in trusted) for r in rows]}


@blp.route("/community/reports/<rowid:report_id>")
class ReportOne(MethodView):
    @blp.response(200, ReportSchema)
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403, 404)
    def get(self, report_id: int) -> dict[str, Any]:
        """One report with its moderation history."""
        session = db_session()
        require(api_user(), "community.moderate")
        report = services.get_report(session, report_id)
        trusted = services.trusted_sources(session, {report.source_hash})
        return services.to_wire(report, trusted=bool(trusted))


@blp.route("/community/reports/<rowid:report_id>/moderate")
class Moderate(MethodView):
    @blp.arguments(ModerateSchema)
    @blp.response(200, ReportSchema)
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403, 404, 409, 422)
    def post(self, data: dict[str, Any], report_id: int) -> dict[str, Any]:
        """Verify, mark as duplicate or reject a report (with a reason); derived counts follow."""
        session = db_session()
        report = services.moderate(
            session,
            report_id,
            state=data["state"],
            reason=data["reason"],
            duplicate_of=data["duplicate_of"],
            user=api_user(),
            config=runtime().config,
            now=now(),
        )
        trusted = services.trusted_sources(session, {report.source_hash})
        return services.to_wire(report, trusted=bool(trusted))


@blp.route("/community/reports/<rowid:report_id>/trusted")
class Trusted(MethodView):
    @blp.arguments(TrustedSchema)
    @blp.response(200, TrustedAnswerSchema)
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403, 404, 422)
    def post(self, data: dict[str, Any], report_id: int) -> dict[str, Any]:
        """Mark (or unmark) the reporter of this report as trusted."""
        trusted = services.set_trusted(
            db_session(),
            report_id,
            trusted=data["trusted"],
            note=data["note"],
            user=api_user(),
            now=now(),
        )
        return {"trusted": trusted}


@blp.route("/community/reports/<rowid:report_id>/evidence")
class AttachEvidence(MethodView):
    @blp.response(200, EvidenceLinkSchema)
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403, 404, 409)
    def post(self, report_id: int) -> dict[str, Any]:
        """Link a verified report as evidence (kind ``community_report``) of its indicator."""
        evidence = services.attach_as_evidence(
            db_session(), report_id, user=api_user(), config=runtime().config, now=now()
        )
        return {
            "evidence_id": evidence.id,
            "indicator": evidence.indicator_code,
            "period": evidence.period,
        }
