"""An Open SDG file refused on the import page, in the reader's language (issue 15).

The Open SDG layout (``node.importing.open_sdg``) has rules of its own: the Year and Value
columns, a column that is no breakdown, Units the column mapping does not know or a file that
mixes them, a year that is not one, a cell in a column the mapping leaves out, a value that is
no code of its breakdown, and the column mapping itself (indicators, breakdowns and codes the
catalogue does not have). Each refusal is uploaded here through the page in French and in
Swahili, one bad cell per row, and each row's message is compared with the sentence written
by hand from the catalogues (``node/translations/*/messages.po``), with its values, and with
lists written the reader's way ("A, B et 3 autres", "A, B na 3 zaidi"): no English word of
ours in the cell. Nothing is stored by a refused file; a good file is imported in the same
language and its report is in that language.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from node.models import Result, ResultChange
from node.services import catalogue
from tests.support import Caller
from tests.web.language_support import in_language, plain_text
from tests.web.test_pages import csrf_token, login

INDICATOR = (
    "HRC-EDU-01"  # a percentage (PT) broken down by SEX, MIGRANT_STATUS, DISABILITY, DISTRICT
)
LOCALES = ["fr", "sw"]


@pytest.fixture
def web(app: Flask) -> FlaskClient:
    app.config["WTF_CSRF_ENABLED"] = True
    return app.test_client()


def _stored(db: Callable[[], Any]) -> tuple[int, int]:
    with db() as session:
        return tuple(  # type: ignore[return-value]
            int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (Result, ResultChange)
        )


def _upload(
    web: FlaskClient,
    csv: str,
    *,
    indicator: str = "",
    profile: dict[str, Any] | None = None,
) -> tuple[int, str]:
    """Upload ``csv`` as an Open SDG file on the import page: (status, the page's plain text)."""
    answer = web.post(
        "/import",
        data={
            "csrf_token": csrf_token(web, "/import"),
            "layout": "open-sdg",
            "indicator": indicator,
            "profile": json.dumps(profile) if profile is not None else "",
            "file": (io.BytesIO(csv.encode()), "indicator_4-1-1.csv"),
        },
        content_type="multipart/form-data",
    )
    return answer.status_code, plain_text(answer.get_data(as_text=True))


def _rows(html: str) -> dict[str, list[str]]:
    """Row number → the messages of its cells (the Problem column), as the page shows them."""
    rows: dict[str, list[str]] = {}
    for row, cells in re.findall(r'<tr id="row-(\d+)"[^>]*>(.*?)</tr>', html, flags=re.S):
        message = re.findall(r"<td>(.*?)</td>", cells, flags=re.S)[2]
        rows.setdefault(row, []).append(message.strip())
    return rows


def _districts(db: Callable[[], Any], count: int) -> None:
    """Give DISTRICT (only "Whole city" in the catalogue) ``count`` codes of the city's own."""
    with db() as session:
        catalogue.add_dimension_codes(
            session,
            "DISTRICT",
            [{"code": f"D{n:02d}", "label": f"District {n}"} for n in range(1, count + 1)],
        )
        session.commit()


# One bad cell per row (row 1 is the header; row 2 is good and row 10 repeats its figure with
# another value).
PROFILE = {
    "indicator": INDICATOR,
    "units": {"Percent": INDICATOR, "Count": None},
    "columns": {
        "Gender": {"dimension": "SEX", "codes": {"Woman": "F"}},
        "District": {"dimension": "DISTRICT"},
        "Ethnicity": {"dimension": "ETHNICITY_SELF_ID"},
        "Age": {"dimension": "AGE_GROUP"},
        "GeoCode": None,
    },
    "status": "draft",
}
BAD_FILE = (
    "Year,Units,Gender,District,Ethnicity,Age,GeoCode,Value\n"
    "2020,,,,,,,40\n"  # 2: good
    "19,,,,,,,40\n"  # 3: not a year
    "2021,Dollars,,,,,,40\n"  # 4: Units the mapping does not know
    "2021,,Woamn,,,,,40\n"  # 5: not a value of SEX (the mapping has Woman)
    "2021,,,ZZ9,,,,40\n"  # 6: not a value of DISTRICT (18 codes: 15 quoted, 3 counted)
    "2021,,,,Roma,,,40\n"  # 7: ETHNICITY_SELF_ID has no codes yet
    "2021,,,,,,06037,40\n"  # 8: a column the mapping leaves out
    "2021,Percent,,,,,06037,40\n"  # 9: ... left out for these Units too
    "2020,,,,,,,41\n"  # 10: row 2's figure with another value
    '2022,,,,,,,"12,5"\n'  # 11: a decimal comma
    "2022,,,,,Under 18,,40\n"  # 12: a breakdown the indicator does not have
)
SEX_CODES = {
    "fr": "F (Female), M (Male), X (Other / non-binary (where lawfully collected)) et _U (Unknown)",
    "sw": "F (Female), M (Male), X (Other / non-binary (where lawfully collected)) na _U (Unknown)",
}
FIFTEEN = ", ".join(f"D{n:02d} (District {n})" for n in range(1, 16))
DISTRICT_LABEL = "DISTRICT (City district / neighbourhood (node-defined code list))"
ETHNICITY_LABEL = (
    "ETHNICITY_SELF_ID (Ethnic or racial origin, self-identified (optional, only where lawful "
    "and with safeguards))"
)
BREAKDOWNS = "SEX, MIGRANT_STATUS, DISABILITY"  # then "et DISTRICT" / "na DISTRICT"
EXPECTED = {
    "fr": {
        "3": "« 19 » n'est pas une année. Écrivez l'année avec quatre chiffres, par exemple 2019.",
        "4": "L'unité « Dollars » n'est pas dans la correspondance des colonnes, donc son "
        "indicateur est inconnu. Unités que la correspondance connaît : 'Percent' et 'Count'.",
        "5": "« Woamn » n'est pas une valeur connue de SEX (Sex). La correspondance des colonnes "
        f"donne : 'Woman' → F. Codes de SEX : {SEX_CODES['fr']}.",
        "6": f"« ZZ9 » n'est pas une valeur connue de {DISTRICT_LABEL}. Codes de DISTRICT : "
        f"{FIFTEEN} et 3 autres.",
        "7": f"« Roma » n'est pas une valeur connue de {ETHNICITY_LABEL} : ETHNICITY_SELF_ID n'a "
        "encore aucun code.",
        "8": "La correspondance des colonnes dit que la colonne « GeoCode » n'est pas utilisée, "
        "mais cette ligne y contient « 06037 ». Laissez la cellule vide ou décrivez la colonne "
        "dans la correspondance.",
        "9": "La correspondance des colonnes dit que la colonne « GeoCode » n'est pas utilisée "
        "pour l'unité « Percent », mais cette ligne y contient « 06037 ». Laissez la cellule "
        "vide ou décrivez la colonne dans la correspondance.",
        "10": f"La ligne 2 donne déjà 40 pour le total de l'indicateur {INDICATOR}, période "
        "2020 ; cette ligne donne 41. Ne gardez que la bonne valeur.",
        "11": "« 12,5 » n'est pas un nombre. Dans le fichier, le séparateur décimal est un "
        "point, pas une virgule (12.5, pas 12,5).",
        "12": f"L'indicateur {INDICATOR} n'a pas de ventilation par AGE_GROUP : laissez cette "
        f"cellule vide. Ventilations de {INDICATOR} : {BREAKDOWNS} et DISTRICT.",
    },
    "sw": {
        "3": "“19” si mwaka. Andika mwaka kwa tarakimu nne, kwa mfano 2019.",
        "4": "Kipimo “Dollars” hakimo katika ulinganishaji wa safu, kwa hiyo kiashiria chake "
        "hakijulikani. Vipimo ambavyo ulinganishaji unavijua: 'Percent' na 'Count'.",
        "5": "“Woamn” si thamani inayojulikana ya SEX (Sex). Ulinganishaji wa safu unatoa: "
        f"'Woman' → F. Misimbo ya SEX: {SEX_CODES['sw']}.",
        "6": f"“ZZ9” si thamani inayojulikana ya {DISTRICT_LABEL}. Misimbo ya DISTRICT: "
        f"{FIFTEEN} na 3 zaidi.",
        "7": f"“Roma” si thamani inayojulikana ya {ETHNICITY_LABEL}: ETHNICITY_SELF_ID bado "
        "haina misimbo.",
        "8": "Ulinganishaji wa safu unasema safu wima “GeoCode” haitumiki, lakini mstari huu "
        "una “06037” ndani yake. Acha kisanduku kitupu au ielezee safu wima hiyo katika "
        "ulinganishaji.",
        "9": "Ulinganishaji wa safu unasema safu wima “GeoCode” haitumiki kwa kipimo "
        "“Percent”, lakini mstari huu una “06037” ndani yake. Acha kisanduku kitupu au "
        "ielezee safu wima hiyo katika ulinganishaji.",
        "10": f"Mstari 2 tayari unatoa 40 kwa jumla ya kiashiria {INDICATOR}, kipindi 2020; "
        "mstari huu unatoa 41. Baki na thamani sahihi pekee.",
        "11": "“12,5” si namba. Kwenye faili, tumia nukta, si koma, kutenganisha desimali "
        "(12.5, si 12,5).",
        "12": f"Kiashiria {INDICATOR} hakina mgawanyo kwa AGE_GROUP: acha kisanduku hiki "
        f"kitupu. Migawanyo ya {INDICATOR}: {BREAKDOWNS} na DISTRICT.",
    },
}
# The English sentences the services write (the API's words): none may reach these pages.
ENGLISH = [
    "is not a year",
    "is not in the import profile",
    "is not a known value",
    "none yet",
    "more.",
    "is not used",
    "already gives",
    "Keep only the correct one",
    "has no breakdown by",
]


@pytest.mark.parametrize("locale", LOCALES)
def test_each_open_sdg_cell_refusal_is_in_the_readers_language_and_nothing_is_stored(
    web: FlaskClient, official: Caller, db: Callable[[], Any], locale: str
) -> None:
    _districts(db, 18)
    login(in_language(web, locale), official)
    status, html = _upload(web, BAD_FILE, profile=PROFILE)
    assert status == 422, html[-3000:]
    rows = _rows(html)
    for row, sentence in EXPECTED[locale].items():
        assert rows.get(row) == [sentence], (row, rows.get(row))
    assert "2" not in rows  # the good row has no message
    for english in ENGLISH:
        assert english not in html, english
    assert _stored(db) == (0, 0)


HEADER_FILES = {
    # A file without its Value column: the rows are not read.
    "missing": ("Year,Units\n2020,\n", INDICATOR, None),
    # A column that is no breakdown of the catalogue.
    "unknown column": ("Year,Colour,Value\n2020,Blue,40\n", INDICATOR, None),
    # Two units and no mapping to say which indicator each belongs to.
    "mixed units": ("Year,Units,Value\n2020,Percent,40\n2021,Count,4\n", INDICATOR, None),
    # A column mapping that names no indicator, and no indicator chosen.
    "no indicator": ("Year,Value\n2020,40\n", "", {"description": "Schools"}),
}
# The test catalogue's fourteen breakdowns, in the order of their codes.
THIRTEEN = (
    "AGE_GROUP, BIAS_MOTIVATION, BODY_TYPE, DISABILITY, DISCRIM_GROUND, DISTRICT, DOMAIN, "
    "ETHNICITY_SELF_ID, HOUSEHOLD_TYPE, INCOME_QUINTILE, MIGRANT_STATUS, SEX, SHELTER_STATUS"
)
HEADER_EXPECTED = {
    "fr": {
        "missing": "Le fichier n'a pas de colonne « Value ». Un fichier Open SDG a les colonnes "
        "Year, d'éventuelles colonnes de ventilation, facultativement Units, et Value (ces noms "
        "anglais, tels qu'Open SDG les écrit).",
        "unknown column": "La colonne « Colour » ne correspond à aucune ventilation du "
        f"catalogue (connues : {THIRTEEN} et TENURE). Décrivez-la dans les « columns » de la "
        "correspondance des colonnes.",
        "mixed units": "Ce fichier mélange plusieurs unités (« Percent » et « Count »). Donnez "
        "une correspondance des colonnes qui dit à quel indicateur appartient chaque unité.",
        "no indicator": "Aucun indicateur n'est indiqué : choisissez l'indicateur dont parle ce "
        "fichier, ou donnez une correspondance des colonnes qui dit à quel indicateur appartient "
        "chaque unité du fichier.",
    },
    "sw": {
        "missing": "Faili halina safu wima “Value”. Faili la Open SDG lina safu wima Year, "
        "safu wima zozote za migawanyo, Units ukipenda, na Value (majina haya ya Kiingereza, "
        "kama Open SDG inavyoyaandika).",
        "unknown column": "Safu wima “Colour” hailingani na mgawanyo wowote wa katalogi "
        f"(inayojulikana: {THIRTEEN} na TENURE). Ielezee katika “columns” ya ulinganishaji wa "
        "safu.",
        "mixed units": "Faili hili linachanganya vipimo kadhaa (“Percent” na “Count”). Toa "
        "ulinganishaji wa safu unaoonyesha kila kipimo ni cha kiashiria gani.",
        "no indicator": "Hakuna kiashiria kilichotajwa: chagua kiashiria ambacho faili hili "
        "linakiripoti, au toa ulinganishaji wa safu unaoonyesha kila kipimo cha faili ni cha "
        "kiashiria gani.",
    },
}


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("case", sorted(HEADER_FILES))
def test_open_sdg_header_refusals_are_in_the_readers_language(
    web: FlaskClient, official: Caller, db: Callable[[], Any], locale: str, case: str
) -> None:
    csv, indicator, profile = HEADER_FILES[case]
    login(in_language(web, locale), official)
    status, html = _upload(web, csv, indicator=indicator, profile=profile)
    assert status == 422, html[-3000:]
    messages = [m for found in _rows(html).values() for m in found]
    assert len(messages) == 1, messages
    assert messages[0] == HEADER_EXPECTED[locale][case]
    for english in ("has no 'Value' column", "does not match", "mixes several units", "No indic"):
        assert english not in html
    assert _stored(db) == (0, 0)


# The column mapping itself: checked against the catalogue before any row is read.
BAD_PROFILE = {
    "indicator": "NO-SUCH-9",
    "columns": {
        "Gender": {"dimension": "SEXE"},
        "Sex": {"dimension": "SEX", "codes": {"Woman": "W"}},
    },
}
PROFILE_EXPECTED = {
    "fr": [
        "indicator : « NO-SUCH-9 » n'est pas un indicateur du catalogue.",
        "columns 'Gender' : « SEXE » n'est pas une ventilation du catalogue.",
        "columns 'Sex' : « Woman » reçoit le code « W », qui n'est pas un code de SEX.",
    ],
    "sw": [
        "indicator: “NO-SUCH-9” si kiashiria cha katalogi.",
        "columns 'Gender': “SEXE” si mgawanyo wa katalogi.",
        "columns 'Sex': “Woman” imepewa msimbo “W”, ambao si msimbo wa SEX.",
    ],
}
NO_PROFILE = {
    "fr": "Un fichier Open SDG a besoin de l'indicateur dont il parle, ou d'une correspondance "
    "des colonnes : donnez l'un ou l'autre.",
    "sw": "Faili la Open SDG linahitaji kiashiria linachokiripoti, au ulinganishaji wa safu: "
    "toa kimojawapo.",
}
MALFORMED = {
    "fr": "Cette partie de la correspondance des colonnes n'est pas écrite comme prévu. (En "
    "anglais : period_format: Must be one of: year, period.)",
    "sw": "Sehemu hii ya ulinganishaji wa safu haijaandikwa kama inavyotarajiwa. (Kwa "
    "Kiingereza: period_format: Must be one of: year, period.)",
}


def _problems(html: str) -> list[str]:
    """Every message of the page's table of problems (with or without a row); none without a
    table (a refusal of the whole file is said once, in the alert)."""
    table = re.search(r'<table class="data errors" id="import-errors">(.*?)</table>', html, re.S)
    if table is None:
        assert '<p class="flash error" role="alert">' in html, html[-3000:]
        return []
    return [
        re.findall(r"<td>(.*?)</td>", cells, flags=re.S)[2].strip()
        for cells in re.findall(r"<tr[^>]*>(.*?)</tr>", table.group(1), flags=re.S)
        if "<td>" in cells
    ]


@pytest.mark.parametrize("locale", LOCALES)
def test_a_column_mapping_that_misfits_the_catalogue_is_explained_in_the_readers_language(
    web: FlaskClient, official: Caller, db: Callable[[], Any], locale: str
) -> None:
    login(in_language(web, locale), official)
    csv = "Year,Gender,Value\n2020,,40\n"
    status, html = _upload(web, csv, profile=BAD_PROFILE)
    assert status == 422, html[-3000:]
    assert _problems(html) == PROFILE_EXPECTED[locale]
    status, html = _upload(web, csv, profile={"indicator": INDICATOR, "period_format": "decade"})
    assert status == 422, html[-3000:]
    assert _problems(html) == [MALFORMED[locale]]
    status, html = _upload(web, csv)  # neither an indicator nor a column mapping
    assert status == 422, html[-3000:]
    assert _problems(html) == [NO_PROFILE[locale]]
    assert "is not an indicator of the catalogue" not in html
    assert "give a profile or an indicator" not in html
    assert _stored(db) == (0, 0)


GOOD_FILE = (
    "Year,Units,Gender,Value\n"
    "2020,Percent,,40\n"
    "2020,Percent,Woman,42\n"
    "2020,Percent,Male,38\n"
    "2020,Percent,,40\n"  # the same total again: imported once
    "2021,Percent,,\n"  # no value: no data for this year
    "2020,Count,,1234\n"  # a unit the mapping leaves out
)
IMPORTED = {
    "fr": "Le fichier est importé : 3 nouveaux, 0 modifiés, 0 inchangés (3 lignes sans valeur "
    "ignorées).",
    "sw": "Faili imeingizwa: 3 mpya, 0 zimebadilishwa, 0 hazijabadilika (safu 3 zisizo na "
    "thamani zimerukwa).",
}


@pytest.mark.parametrize("locale", LOCALES)
def test_a_good_open_sdg_file_is_imported_in_the_readers_language(
    web: FlaskClient, official: Caller, db: Callable[[], Any], locale: str
) -> None:
    login(in_language(web, locale), official)
    status, html = _upload(web, GOOD_FILE, profile=PROFILE)
    assert status == 200, html[-3000:]
    report = re.search(r'id="import-report"><p>(.*?)</p>', html, flags=re.S)
    assert report and report.group(1) == IMPORTED[locale], html[-3000:]
    assert 'id="import-errors"' not in html
    with db() as session:
        stored = sorted(
            (r.period, sorted(r.disaggregation.items()), r.value_text, r.status)
            for r in session.scalars(select(Result))
        )
    assert stored == [
        ("2020", [], "40", "draft"),
        ("2020", [("SEX", "F")], "42", "draft"),
        ("2020", [("SEX", "M")], "38", "draft"),
    ]
