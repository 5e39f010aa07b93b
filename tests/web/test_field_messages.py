"""Field messages without a code of their own reach pages in the reader's language (issue 15).

The last English sentences on French or Swahili pages were field messages the services wrote as
plain strings: a baseline without its value, an attachment of the wrong kind, a breakdown the
indicator does not have or a code its breakdown does not know. They are now
:class:`node.refusals.Problem` strings carrying ``validation_failed`` and a variant, worded from
the table with their values; the API keeps the same English text. Each test checks the
translated sentence (with its values) beside its field or row, that the English sentence is
gone, and that nothing was written.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from node.models import CsoFigure, Evidence, EvidenceAttachment, Result, ResultChange, Target
from tests.support import Caller
from tests.web.language_support import in_language, plain_text
from tests.web.test_pages import csrf_token, login

PERCENT = "HRC-EDU-03"  # a percentage (PT), broken down by DISTRICT only


@pytest.fixture
def web(app: Flask) -> FlaskClient:
    app.config["WTF_CSRF_ENABLED"] = True
    return app.test_client()


def _count(db: Callable[[], Any], model: Any) -> int:
    with db() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _refused_import(web: FlaskClient, csv: bytes) -> tuple[str, dict[str, str]]:
    """Upload ``csv`` on the import page; it must be refused: (page text, row number → row)."""
    answer = web.post(
        "/import",
        data={
            "csrf_token": csrf_token(web, "/import"),
            "layout": "own",
            "file": (io.BytesIO(csv), "figures.csv"),
        },
        content_type="multipart/form-data",
    )
    html = plain_text(answer.get_data(as_text=True))
    assert answer.status_code == 422, html[-3000:]
    return html, dict(re.findall(r'<tr id="row-(\d+)"[^>]*>(.*?)</tr>', html, flags=re.S))


# --- planning: a baseline without its value ------------------------------------------------------

VALUE_MISSING = {
    "fr": "Indiquez une valeur avec la période.",
    "sw": "Weka thamani pamoja na kipindi.",
}


@pytest.mark.parametrize("locale", ["fr", "sw"])
def test_a_baseline_period_without_its_value_is_explained_beside_the_field(
    web: FlaskClient, official: Caller, db: Callable[[], Any], locale: str
) -> None:
    login(in_language(web, locale), official)
    page = f"/targets?indicator={PERCENT}"
    data = {
        "csrf_token": csrf_token(web, page),
        "indicator": PERCENT,
        "baseline_period": "2020",
        "baseline_value": "",
        "target_period": "",
        "target_value": "",
        "dim_DISTRICT": "_T",
    }
    answer = web.post(page, data=data)
    html = plain_text(answer.get_data(as_text=True))
    assert answer.status_code == 422
    # Beside its field (the message its aria-describedby names), in the reader's words.
    error = re.search(r'id="baseline_value-error"[^>]*>([^<]*)<', html)
    assert error and error.group(1).strip() == VALUE_MISSING[locale], html[-3000:]
    assert "give a value with the period" not in html
    assert _count(db, Target) == 0


def test_the_api_keeps_the_english_field_message(
    client: FlaskClient, official: Caller, db: Callable[[], Any]
) -> None:
    # The same rule through the API (the monitoring service's own check, after the schema):
    # a target period before the baseline's; English, field by field, as before.
    answer = client.post(
        "/api/v1/targets",
        json={
            "indicator": PERCENT,
            "baseline": {"period": "2030", "value": "10"},
            "target": {"period": "2020", "value": "20"},
        },
        headers={"Authorization": f"Bearer {official.token}", "Accept-Language": "fr"},
    )
    assert answer.status_code == 422, answer.get_json()
    body = answer.get_json()
    assert body["errors"] == {
        "target.period": ["the target period must come after the baseline period"]
    }
    assert "variant" not in body and "params" not in body
    assert _count(db, Target) == 0


# --- evidence: an attachment of the wrong kind, named in the message ----------------------------

FILE_KIND = {
    "fr": "report.pdf n'est pas un fichier PDF, PNG, JPEG ou texte brut.",
    "sw": "report.pdf si faili la PDF, PNG, JPEG wala la maandishi matupu.",
}


@pytest.mark.parametrize("locale", ["fr", "sw"])
def test_an_attachment_of_the_wrong_kind_is_named_in_the_readers_language(
    web: FlaskClient, create_user: Any, db: Callable[[], Any], locale: str
) -> None:
    login(in_language(web, locale), create_user("cso_partner"))
    data = {
        "csrf_token": csrf_token(web, "/evidence"),
        "indicator": "HRC-HOU-01",
        "period": "2025",
        "kind": "cso_report",
        "title": "Evictions in winter",
        "body": "We counted 40 evictions.",
        # Markup named as a PDF: judged by its bytes, refused, and named in the message.
        "attachments": [(io.BytesIO(b"<html><p>x</p></html>"), "report.pdf", "application/pdf")],
    }
    answer = web.post("/evidence", data=data, content_type="multipart/form-data")
    html = plain_text(answer.get_data(as_text=True))
    assert answer.status_code == 422
    assert FILE_KIND[locale] in html, html[-3000:]
    assert "not a PDF, PNG, JPEG or plain-text file" not in html
    assert _count(db, Evidence) == 0 and _count(db, EvidenceAttachment) == 0


# --- breakdowns: a civil-society figure's breakdown, the cells of an import ----------------------

# node.disaggregation.check_against (the figures' own check: CSO figures, the API, targets).
CSO_BREAKDOWN = {
    ("fr", "SEX=F"): "SEX n'est pas une ventilation de cet indicateur (il a : DISTRICT).",
    ("sw", "SEX=F"): "SEX si mgawanyo wa kiashiria hiki (kina: DISTRICT).",
    # The test catalogue's DISTRICT has only its total (_T) so far.
    ("fr", "DISTRICT=ZZ9"): "« ZZ9 » n'est pas un code de la ventilation DISTRICT "
    "(ses codes : _T).",
    ("sw", "DISTRICT=ZZ9"): "“ZZ9” si msimbo wa mgawanyo DISTRICT (misimbo yake: _T).",
}


@pytest.mark.parametrize(("locale", "breakdown"), sorted(CSO_BREAKDOWN))
def test_a_breakdown_the_indicator_does_not_have_is_explained_in_the_readers_language(
    web: FlaskClient, create_user: Any, db: Callable[[], Any], locale: str, breakdown: str
) -> None:
    login(in_language(web, locale), create_user("cso_partner"))
    data = {
        "csrf_token": csrf_token(web, "/cso-figures"),
        "indicator": PERCENT,
        "period": "2025",
        "disaggregation": breakdown,
        "value": "40",
        "organisation": "Housing Watch",
        "method": "door-to-door survey of 1,200 households",
        "source": "Housing Watch annual survey 2025",
        "note": "",
    }
    answer = web.post("/cso-figures", data=data)
    html = plain_text(answer.get_data(as_text=True))
    assert answer.status_code == 422, html[-3000:]
    # Beside the breakdown field, with the dimension, the code and the allowed ones quoted.
    error = re.search(r'id="disaggregation-error"[^>]*>([^<]*)<', html)
    assert error and error.group(1).strip() == CSO_BREAKDOWN[locale, breakdown], html[-3000:]
    assert "not a dimension of this indicator" not in html and "unknown code" not in html
    assert _count(db, CsoFigure) == 0


UNKNOWN_CODE_CELL = {
    "fr": "« ZZ9 » n'est pas un code de DISTRICT (City district / neighbourhood (node-defined "
    "code list)) : elle n'a encore aucun code.",
    "sw": "“ZZ9” si msimbo wa DISTRICT (City district / neighbourhood (node-defined code list)): "
    "bado hauna misimbo.",
}
NO_SUCH_BREAKDOWN_CELL = {
    "fr": f"L'indicateur {PERCENT} n'a pas de ventilation par SEX : laissez cette cellule vide. "
    f"Ventilations de {PERCENT} : DISTRICT.",
    "sw": f"Kiashiria {PERCENT} hakina mgawanyo kwa SEX: acha kisanduku hiki kitupu. "
    f"Migawanyo ya {PERCENT}: DISTRICT.",
}


@pytest.mark.parametrize("locale", ["fr", "sw"])
def test_breakdown_cells_of_an_import_are_explained_in_the_readers_language(
    web: FlaskClient, official: Caller, db: Callable[[], Any], locale: str
) -> None:
    login(in_language(web, locale), official)
    csv = (
        "indicator,period,value,DISTRICT,SEX\n"
        f"{PERCENT},2025,40,ZZ9,\n"  # a code DISTRICT does not have
        f"{PERCENT},2024,41,,F\n"  # a breakdown the indicator does not have
    ).encode()
    html, rows = _refused_import(web, csv)
    assert UNKNOWN_CODE_CELL[locale] in rows["2"], rows
    assert NO_SUCH_BREAKDOWN_CELL[locale] in rows["3"], rows
    assert "is not a code of" not in html and "has no breakdown by" not in html
    assert (_count(db, Result), _count(db, ResultChange)) == (0, 0)


def test_the_api_import_keeps_its_english_cell_messages(
    client: FlaskClient, official: Caller
) -> None:
    csv = f"indicator,period,value,SEX\n{PERCENT},2024,41,F\n".encode()
    answer = client.post(
        "/api/v1/results/import",
        data={"layout": "own", "file": (io.BytesIO(csv), "figures.csv")},
        content_type="multipart/form-data",
        headers={"Authorization": f"Bearer {official.token}", "Accept-Language": "fr"},
    )
    assert answer.status_code == 422, answer.get_json()
    body = answer.get_json()
    assert [e["message"] for e in body["errors"]] == [
        f"Indicator {PERCENT} has no breakdown by SEX; leave this cell empty. "
        f"Breakdowns of {PERCENT}: DISTRICT."
    ]


# The other cells of an uploaded file: the reader's words, the cell's text quoted as typed.
IMPORT_CELLS = {
    "fr": {
        "2": "« 12,5 » n'est pas un nombre. Dans le fichier, le séparateur décimal est un point, "
        "pas une virgule (12.5, pas 12,5).",
        "3": "« 40% » n'est pas un nombre. Retirez le signe % : l'unité vient de l'indicateur.",
        # The list of statuses is written the reader's way ("a, b et c"), as every list a
        # refusal quotes (node.refusals.Items).
        "4": "« pubished » n'est pas un statut. Utilisez l'un de : draft, validated et published "
        "(ou laissez vide).",
        "5": "« NO-SUCH-1 » n'est pas un indicateur du catalogue. Vérifiez le code ; un "
        "indicateur local doit d'abord être ajouté au catalogue.",
        "6": "La période est vide. Utilisez 2025, 2025-H1, 2025-Q3 ou 2025-07.",
    },
    "sw": {
        "2": "“12,5” si namba. Kwenye faili, tumia nukta, si koma, kutenganisha desimali "
        "(12.5, si 12,5).",
        "3": "“40%” si namba. Ondoa alama ya %: kipimo kinatoka kwenye kiashiria.",
        "4": "“pubished” si hali. Tumia mojawapo ya: draft, validated na published "
        "(au iache tupu).",
        "5": "“NO-SUCH-1” si kiashiria cha katalogi. Kagua msimbo; kiashiria cha ndani lazima "
        "kwanza kiongezwe kwenye katalogi.",
        "6": "Kipindi kiko tupu. Tumia 2025, 2025-H1, 2025-Q3 au 2025-07.",
    },
}


@pytest.mark.parametrize("locale", ["fr", "sw"])
def test_value_status_indicator_and_period_cells_are_explained_in_the_readers_language(
    web: FlaskClient, official: Caller, db: Callable[[], Any], locale: str
) -> None:
    login(in_language(web, locale), official)
    csv = (
        "indicator,period,value,status\n"
        f'{PERCENT},2025,"12,5",\n'  # a decimal comma in the file
        f"{PERCENT},2024,40%,\n"  # a unit sign
        f"{PERCENT},2023,40,pubished\n"  # a status misspelt
        "NO-SUCH-1,2022,40,\n"  # no such indicator
        f"{PERCENT},,40,\n"  # no period
    ).encode()
    html, rows = _refused_import(web, csv)
    for row, sentence in IMPORT_CELLS[locale].items():
        assert sentence in rows[row], (row, rows.get(row))
    assert "is not a number" not in html and "is not a status" not in html
    assert (_count(db, Result), _count(db, ResultChange)) == (0, 0)
