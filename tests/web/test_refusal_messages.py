"""A service's refusal reaches a page in the reader's language (issue 15), the API stays English.

Services refuse in English (``detail``, the API's contract) with a machine ``code``; pages
translate the refusal from its code (``node.refusals``). These tests:

- scan the sources for every refusal code (``code="…"`` arguments, ``code = "…"`` class
  attributes and assignments, the codes of field messages) and fail when one a page can show has
  no message in the table, or a message of the table lacks a translation in one of the six
  catalogues;
- show real refusals on real pages in French and Swahili (a percentage of 150, a period
  ``2025-13``, review actions the workflow does not allow) with the values filled in, and check
  that nothing was written and that the API still answers the same English problem+json.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from node import refusals
from node.errors import ConflictError, DomainError, InvalidInputError
from node.models import Result, ResultChange
from node.network.models import OutEnvelope
from tests.support import Caller
from tests.web.language_support import in_language, plain_text
from tests.web.test_pages import csrf_token, login
from tests.web.test_review_pages import Cycle, cycle, do, in_review, signed_in, staff

__all__ = ["cycle"]  # the review pages' fixture, used below

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "node" / "translations"
LOCALES = ("fr", "es", "nl", "it", "sw")
PERCENT = "HRC-EDU-03"  # a percentage (PT), by DISTRICT

# Codes the scan finds that no page can show, each with the reason.
NOT_ON_PAGES = {
    # A workflow table that breaks a rule does not load: the node does not start
    # (peer_review.statemachine.TableError, peer_review.mentoring.workflow).
    "bad_refusal_type": "table error at start-up",
    "effect_conflict": "table error at start-up",
    "effect_without_handler": "table error at start-up",
    "handler_without_row": "table error at start-up",
    "undefined_precondition": "table error at start-up",
    "outcome_mismatch": "table error at start-up",
    # The answer to another node's signed envelope or event (federation inbox, event chains):
    # it goes back to the node that sent it, never to a person's page.
    "bad_event": "answer to a peer's event",
    "event_fork": "answer to a peer's event",
    "event_gap": "answer to a peer's event",
    "bad_signature": "answer to a peer's event",
    "wrong_author": "answer to a peer's event",
    "review_mismatch": "answer to a peer's event",
    "not_home": "answer to a peer's event",
    "summary_mismatch": "answer to a peer's mentoring message",
    "wrong_message_type": "answer to a peer's mentoring message",
    "unknown_type": "answer to a peer's mentoring message",
    "invalid_payload": "answer to a peer's mentoring message",
    "state_conflict": "answer to a peer's mentoring message",
    "version_conflict": "answer to a peer's mentoring message",
    # Bearer tokens and machine endpoints: pages sign in with the session instead.
    "invalid_authorization": "API bearer token only",
    "invalid_token": "API bearer token only",
    "metrics_not_allowed": "GET /metrics only",
    "unknown_gateway": "the SMS gateways' webhook only",
}
# Codes built at run time (``code=f"peer_{peer.state}"`` in node.network.peers): every value.
DYNAMIC_CODES = {"peer_active", "peer_requested", "peer_pending"}

_CODE_PATTERNS = (
    re.compile(r"\bcode\s*=\s*\"([a-z][a-z0-9_]*)\""),  # code="x" / code = "x"
    re.compile(r"\bProblem\(\s*(?:f?\"[^\"]*\"\s*)+,\s*\"([a-z][a-z0-9_]*)\"", re.S),
    re.compile(r"\bUnitProblem\(\s*\"([a-z][a-z0-9_]*)\""),
)


def _sources() -> Iterator[Path]:
    for package in ("node", "peer_review"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = set(path.relative_to(ROOT).parts)
            # The demo drives nodes as a program (its errors are its own); migrations hold none.
            if not parts & {"demo", "migrations"}:
                yield path


def raised_codes() -> dict[str, str]:
    """Every refusal code written in the sources → the first file that has it."""
    found: dict[str, str] = {}
    for path in _sources():
        text = path.read_text(encoding="utf-8")
        for pattern in _CODE_PATTERNS:
            for code in pattern.findall(text):
                found.setdefault(code, str(path.relative_to(ROOT)))
    return found


# The code a refusal has when its call names none: a field message (``Problem``) and an
# ``InvalidInputError`` are ``validation_failed``.
_DEFAULT_CODES = {"Problem": "validation_failed", "InvalidInputError": "validation_failed"}


def _constants(node: ast.expr | None) -> list[str]:
    """The string values ``node`` can take: a constant, or either side of ``a if c else b``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _constants(node.body) + _constants(node.orelse)
    return []


def raised_variants() -> dict[str, str]:
    """Every ``code:variant`` a refusal or field message is written with → the first file.

    A variant is one rule of a code (which unit rule, which field of the report form, which
    breakdown check): a page words it from the ``code:variant`` entry, so each written variant
    needs its own entry (a plain ``code`` entry would show a generic sentence and the English).
    """
    found: dict[str, str] = {}
    for path in _sources():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for call in ast.walk(tree):
            if not isinstance(call, ast.Call):
                continue
            keywords = {k.arg: k.value for k in call.keywords if k.arg}
            variants = _constants(keywords.get("variant"))
            if not variants:
                continue
            name = getattr(call.func, "id", None) or getattr(call.func, "attr", None)
            codes = _constants(keywords.get("code"))
            if not codes and name == "Problem" and len(call.args) > 1:
                codes = _constants(call.args[1])
            if not codes and name in _DEFAULT_CODES:
                codes = [_DEFAULT_CODES[name]]
            for code in codes:
                for variant in variants:
                    found.setdefault(f"{code}:{variant}", str(path.relative_to(ROOT)))
    return found


def _msgid(message: Any) -> str:
    lazy = message.message if isinstance(message, refusals.Lead) else message
    return str(lazy._args[0])  # flask_babel's LazyString keeps the msgid in _args


def _table_msgids() -> set[str]:
    return (
        {_msgid(message) for message in refusals._TABLE.values()}
        | {
            _msgid(message)
            for message in (*refusals._STATUS_LEADS.values(), *refusals._TITLES.values())
        }
        | {"%(sentence)s (In English: %(detail)s)"}
    )


# --- the table covers every code, in every language --------------------------------------------


def test_the_scan_finds_the_codes_it_must(app: Flask) -> None:
    # The scanner is the test's own instrument: it must see each way a code is written.
    codes = raised_codes()
    assert {"invalid_period", "value_out_of_range", "value_not_whole_number"} <= set(codes)
    assert {"outlier_unconfirmed", "reason_required", "role_not_allowed"} <= set(codes)
    assert {"validation_failed", "not_found", "invalid_text", "report_failed"} <= set(codes)
    assert len(codes) > 120


def test_every_refusal_code_a_page_can_show_has_a_message(app: Flask) -> None:
    # ``app`` started every feature, so each has registered its own table.
    known = refusals.known_keys()
    codes = set(raised_codes()) | DYNAMIC_CODES
    missing = sorted(code for code in codes - set(NOT_ON_PAGES) if code not in known)
    assert not missing, f"refusal codes without a page message (node/refusals.py): {missing}"
    # The exceptions are real codes (a stale entry would hide a new one of the same name).
    assert not set(NOT_ON_PAGES) - set(raised_codes())


def test_the_variant_scan_finds_the_variants_it_must(app: Flask) -> None:
    # Each way a variant is written: a keyword of Problem (default code), after a Problem's own
    # code, on an InvalidInputError, and both sides of a conditional variant.
    variants = raised_variants()
    assert {
        "validation_failed:value_missing",  # Problem("…", variant=…)
        "value_out_of_range:score_range",  # Problem("…", "value_out_of_range", variant=…)
        "validation_failed:reason_too_long",  # InvalidInputError(…, variant=…)
        "validation_failed:unknown_breakdown_code",  # variant=a if … else b
        "validation_failed:unknown_breakdown_code_none_yet",
        "validation_failed:report_district",  # Problem(N_("…"), variant=…)
    } <= set(variants)


def test_every_refusal_variant_a_page_can_show_has_its_own_message(app: Flask) -> None:
    # A field message without its own entry would reach a French page as the generic sentence
    # followed by the English text (planning, the report form, the breakdown checks did).
    known = refusals.known_keys()
    missing = sorted(key for key, path in raised_variants().items() if key not in known)
    assert not missing, f"refusal variants without a page message: {missing}"


@pytest.mark.parametrize("locale", LOCALES)
def test_every_refusal_message_is_translated(app: Flask, locale: str) -> None:
    with (TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalogue = read_po(fh, locale=locale)
    untranslated = []
    for msgid in sorted(_table_msgids()):
        entry = catalogue.get(msgid)
        if entry is None or not entry.string or entry.fuzzy:
            untranslated.append(msgid)
        elif sorted(re.findall(r"%\([a-z_]+\)s", msgid)) != sorted(
            re.findall(r"%\([a-z_]+\)s", str(entry.string))
        ):
            untranslated.append(f"{msgid} (placeholders differ)")
    assert not untranslated, f"{locale}: {untranslated}"


# --- how a refusal is chosen ----------------------------------------------------------------------


def test_a_code_with_values_fills_them_in(app: Flask) -> None:
    error = InvalidInputError(
        "'2025-13' is not a period: use 2025, 2025-H1, 2025-Q3 or 2025-07.",
        code="invalid_period",
        params={"period": "2025-13"},
        variant="period_malformed",
    )
    with app.test_request_context(headers={"Accept-Language": "fr"}):
        assert page_text(error).startswith("« 2025-13 » n'est pas une période")
    with app.test_request_context(headers={"Accept-Language": "en"}):
        # English pages keep the service's own sentence (the API's detail, word for word).
        assert refusals.page_message(error) == error.detail


def test_an_unknown_code_gives_a_translated_sentence_and_the_english_reason(app: Flask) -> None:
    # A newer peer's refusal, or a code added without a message: never a crash, never silence.
    error = ConflictError("Widget 7 is frobnicated.", code="widget_frobnicated")
    with app.test_request_context(headers={"Accept-Language": "sw"}):
        text = refusals.page_message(error)
    assert text == (
        "Hili linagongana na kilichokwisha kurekodiwa. (Kwa Kiingereza: Widget 7 is frobnicated.)"
    )


def test_a_generic_code_says_what_kind_of_refusal_then_the_english_reason(app: Flask) -> None:
    error = InvalidInputError("The profile's 'columns' is not an object.")
    with app.test_request_context(headers={"Accept-Language": "nl"}):
        text = refusals.page_message(error)
    assert text.startswith("Een deel van wat u invulde moet worden verbeterd.")
    assert text.endswith("(In het Engels: The profile's 'columns' is not an object.)")


def test_a_missing_value_falls_back_instead_of_breaking_the_page(app: Flask) -> None:
    error = DomainError("No peer 'x'.", code="peer_not_found", status=404)  # no params
    with app.test_request_context(headers={"Accept-Language": "es"}):
        text = refusals.page_message(error)
    assert text == "No se ha encontrado. (En inglés: No peer 'x'.)"


def page_text(error: object) -> str:
    """``page_message`` with the typographic apostrophes of some catalogues made plain."""
    return refusals.page_message(error).replace("’", "'")


# --- real refusals on real pages ---------------------------------------------------------------


@pytest.fixture
def web(app: Flask) -> FlaskClient:
    app.config["WTF_CSRF_ENABLED"] = True
    return app.test_client()


def _written(db: Callable[[], Any]) -> tuple[int, int, int]:
    with db() as session:
        return (
            session.scalar(select(func.count()).select_from(Result)) or 0,
            session.scalar(select(func.count()).select_from(ResultChange)) or 0,
            session.scalar(select(func.count()).select_from(OutEnvelope)) or 0,
        )


PERCENT_150 = {
    "fr": "150 n'est pas possible pour un pourcentage : un pourcentage est compris entre 0 et 100.",
    "sw": "150 haiwezekani kwa asilimia: asilimia iko kati ya 0 na 100.",
}


@pytest.mark.parametrize("locale", ["fr", "sw"])
def test_a_percentage_of_150_is_refused_in_the_readers_language(
    web: FlaskClient, official: Caller, db: Callable[[], Any], locale: str
) -> None:
    login(in_language(web, locale), official)
    data = {
        "csrf_token": csrf_token(web, f"/enter?indicator={PERCENT}"),
        "indicator": PERCENT,
        "period": "2025",
        "value": "150",
        "status": "draft",
        "dim_DISTRICT": "_T",
    }
    answer = web.post(f"/enter?indicator={PERCENT}", data=data)
    html = plain_text(answer.get_data(as_text=True))
    assert answer.status_code == 422
    assert PERCENT_150[locale] in html
    # Beside its field (the message the field's aria-describedby names), not only in a summary.
    assert re.search(r'id="value-error"[^>]*>[^<]*' + re.escape(PERCENT_150[locale][:20]), html)
    assert "between 0 and 100" not in html  # the English sentence is gone
    assert _written(db) == (0, 0, 0)


PERIOD_2025_13 = {
    "fr": "« 2025-13 » n'est pas une période : écrivez une année (2025), un semestre (2025-H1), "
    "un trimestre (2025-Q3) ou un mois (2025-07).",
    "sw": "“2025-13” si kipindi: andika mwaka (2025), nusu mwaka (2025-H1), robo mwaka "
    "(2025-Q3) au mwezi (2025-07).",
}


@pytest.mark.parametrize("locale", ["fr", "sw"])
def test_publishing_period_2025_13_is_refused_in_the_readers_language(
    web: FlaskClient, official: Caller, db: Callable[[], Any], locale: str
) -> None:
    login(in_language(web, locale), official)
    token = csrf_token(web, "/peers")
    answer = web.post(
        "/summaries/publish",
        data={"csrf_token": token, "period": "2025-13"},
        follow_redirects=True,
    )
    html = plain_text(answer.get_data(as_text=True))
    assert answer.status_code == 200
    assert PERIOD_2025_13[locale] in html
    assert "is not a period" not in html
    assert _written(db) == (0, 0, 0)  # nothing signed, nothing queued


def test_the_api_keeps_its_english_problem_for_the_same_refusals(
    client: FlaskClient, official: Caller, db: Callable[[], Any]
) -> None:
    # The bodies main answered before this change (recorded once): a French client gets the
    # same English problem+json, with no page-side ``params`` or ``variant`` in it.
    headers = {"Authorization": f"Bearer {official.token}", "Accept-Language": "fr"}
    answer = client.post(
        "/api/v1/results",
        json=[{"indicator": PERCENT, "period": "2025", "value": "150"}],
        headers=headers,
    )
    assert answer.status_code == 422
    assert answer.get_json() == {
        "type": "https://hrcnet.org/problems/value-out-of-range",
        "title": "Invalid input",
        "status": 422,
        "detail": "1 of 1 results are not valid; nothing was saved.",
        "code": "value_out_of_range",
        "errors": {"0": {"value": ["a percentage is between 0 and 100"]}},
        "error_codes": ["value_out_of_range"],
    }
    answer = client.post("/api/v1/summaries", json={"period": "2025-13"}, headers=headers)
    assert answer.status_code == 422
    assert answer.get_json() == {
        "type": "https://hrcnet.org/problems/validation-failed",
        "title": "Unprocessable Entity",
        "status": 422,
        "detail": "The request does not have the expected fields; see errors.",
        "code": "validation_failed",
        "errors": {"period": ["'2025-13' is not a period: use 2025, 2025-H1, 2025-Q3 or 2025-07."]},
    }
    assert _written(db) == (0, 0, 0)


REVIEW_REFUSALS = {
    "fr": (
        "Chaque examinateur ayant accepté doit soumettre son examen (ou être annulé) avant la "
        "clôture du cycle.",
        "Les villes émettrices doivent être des villes du panel (ou la présidence), dont la vôtre.",
    ),
    "sw": (
        "Kila mtathmini aliyekubali lazima awasilishe tathmini yake (au aondolewe) kabla awamu "
        "haijafungwa.",
        "Miji inayotoa pendekezo lazima iwe miji ya jopo (au mwenyekiti), wa kwako ukiwemo.",
    ),
}


def _review_facts(c: Cycle, rid: str) -> list[tuple[Any, ...]]:
    """What each node holds of the review: its state, event chain head and recommendations."""
    facts = []
    for node in (c.secretariat, c.lyon):
        view = node.api("GET", f"/reviews/{rid}").get_json()
        facts.append((view["state"], view["head_index"], view["round"], view["recommendations"]))
    return facts


@pytest.mark.parametrize("locale", ["fr", "sw"])
def test_review_actions_not_allowed_are_refused_in_the_readers_language(
    cycle: Cycle, locale: str
) -> None:
    c = cycle
    rid = in_review(c)
    before = _review_facts(c, rid)
    # The chair closes the round before the reviews are in: the workflow's precondition refuses.
    chair = in_language(signed_in(c.secretariat, staff(c.secretariat)), locale)
    html = plain_text(do(chair, rid, "close_round", 409))
    assert REVIEW_REFUSALS[locale][0] in html
    assert "Every accepted reviewer must submit" not in html
    # A reviewer drafts a recommendation its own city does not issue: the service refuses.
    lyon = in_language(signed_in(c.lyon, staff(c.lyon)), locale)
    html = plain_text(
        do(
            lyon,
            rid,
            "draft_recommendation",
            422,
            form_key="draft_recommendation",
            object_id="4ec0001b",
            text="Publish eviction data by district.",
            lead_verb="publish",
            action_level="4",
            issuing_cities=["it-padova"],
        )
    )
    assert REVIEW_REFUSALS[locale][1] in html
    assert "Publish eviction data by district." in html  # what was typed is kept
    assert _review_facts(c, rid) == before  # nothing was recorded, on either node


def test_error_pages_speak_the_readers_language(
    web: FlaskClient, official: Caller, db: Callable[[], Any]
) -> None:
    login(in_language(web, "fr"), official)
    # A service's refusal that becomes a whole page (NotFoundError indicator_not_found).
    answer = web.get("/enter?indicator=NOPE-1")
    html = plain_text(answer.get_data(as_text=True))
    assert answer.status_code == 404
    assert "<h1>Introuvable</h1>" in html and "Cet indicateur n'existe pas." in html
    assert "There is no indicator" not in html
    # An HTTP error of the framework (its English description replaced by the sentence).
    answer = in_language(web, "sw").get("/no-such-page")
    html = plain_text(answer.get_data(as_text=True))
    assert answer.status_code == 404
    assert "<h1>Haikupatikana</h1>" in html and "Hili halikupatikana." in html
    assert "The requested URL was not found" not in html
    # The API's answer to the same kind of refusal stays English.
    api = web.get(
        "/api/v1/indicators/NOPE-1",
        headers={"Authorization": f"Bearer {official.token}", "Accept-Language": "fr"},
    )
    assert api.status_code == 404 and api.get_json()["detail"].startswith("There is no indicator")


def test_a_password_rule_is_explained_in_the_readers_language(
    web: FlaskClient, official: Caller
) -> None:
    login(in_language(web, "fr"), official)
    page = "/account/password"
    answer = web.post(
        page,
        data={
            "csrf_token": csrf_token(web, page),
            "current_password": official.password,
            "new_password": "short",
            "repeat_password": "short",
        },
    )
    html = plain_text(answer.get_data(as_text=True))
    assert "Le mot de passe doit compter au moins 12 caractères." in html, html[-2000:]
    assert "at least 12 characters" not in html
