"""The upload reader's refusals on the import page, in the reader's language (issue 15).

``node/importing/table.py`` reads the uploaded file before any layout does. It refuses a whole
file (not UTF-8, empty, binary, a header column without a name or named twice, an old .xls, a
damaged workbook, cells far below the data…) or one row (fewer cells than the header, values
right of the last named column, a date or an invalid number typed into a workbook cell). Each
refusal is a coded ``Problem`` (``unreadable_file:…`` / ``unreadable_cell:…``): the API keeps the
English text byte for byte (``tests/unit/importing`` pins it), a page shows the whole sentence in
the reader's language with its values (rows, lines, counts written the language's way).

Here real files are uploaded through the page in French and in Swahili; each message is compared
with the sentence written by hand from the catalogues (``node/translations/*/messages.po``), the
English reason must not appear, and nothing is stored.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import date
from typing import Any

import openpyxl
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from node.importing.table import MAX_XLSX_ROW
from node.models import Result, ResultChange
from tests.support import Caller
from tests.unit.importing.test_import_table_edges import _rewrite_sheet
from tests.web.language_support import in_language, plain_text
from tests.web.test_open_sdg_import_pages import _problems
from tests.web.test_pages import csrf_token, login
from tests.web.test_refusal_words import _english_left

LOCALES = ["fr", "sw"]
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


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


def _upload(web: FlaskClient, data: bytes, filename: str) -> tuple[int, str]:
    """Upload ``data`` as ``filename`` (own layout): (status, the page's plain text)."""
    answer = web.post(
        "/import",
        data={
            "csrf_token": csrf_token(web, "/import"),
            "layout": "own",
            "file": (io.BytesIO(data), filename),
        },
        content_type="multipart/form-data",
    )
    return answer.status_code, plain_text(answer.get_data(as_text=True))


def _flash(html: str) -> str:
    found = re.search(r'<p class="flash error" role="alert">(.*?)</p>', html, re.S)
    assert found, html[-3000:]
    return found.group(1).strip()


def _rows(html: str) -> dict[str, list[str]]:
    """Row number → the messages of its cells (the Problem column), as the page shows them."""
    rows: dict[str, list[str]] = {}
    for row, cells in re.findall(r'<tr id="row-(\d+)"[^>]*>(.*?)</tr>', html, flags=re.S):
        message = re.findall(r"<td>(.*?)</td>", cells, flags=re.S)[2]
        rows.setdefault(row, []).append(message.strip())
    return rows


def _workbook(rows: dict[int, list[object]]) -> bytes:
    """An .xlsx file with ``rows`` (row number → its cells from column A) on its first sheet."""
    book = openpyxl.Workbook()
    sheet = book.active
    for number, cells in rows.items():
        for column, value in enumerate(cells, start=1):
            sheet.cell(row=number, column=column, value=value)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# --- files refused whole -------------------------------------------------------------------------

# case → (the upload's bytes, its name, the English reason the API keeps: never on these pages)
WHOLE_FILES: dict[str, tuple[bytes, str, str]] = {
    "not_utf8": (
        b"indicator,period,value\nHRC-EDU-01,2025,40\nHRC-EDU-01,2024,\xff40\n",
        "figures.csv",
        "is not UTF-8 text",
    ),
    "empty": (b"  \n\n", "figures.csv", "The file is empty."),
    "binary": (b"indicator,period\x00,value\n", "figures.csv", "looks like a binary file"),
    "no_header": (b",,\n,,\n", "figures.csv", "has no header row"),
    "column_twice": (
        b"indicator,period,value,period\nHRC-EDU-01,2025,40,2024\n",
        "figures.csv",
        "appears twice",
    ),
    "unnamed_column": (b"indicator,,value\nHRC-EDU-01,2025,40\n", "figures.csv", "has no name"),
    "old_xls": (OLE_MAGIC + b"\x00" * 64, "figures.xls", "old-style Excel file"),
    "named_like_workbook": (
        b"indicator,period,value\nHRC-EDU-01,2025,40\n",
        "figures.xlsx",
        "is named like an Excel workbook",
    ),
    "damaged_workbook": (b"PK\x03\x04" + b"\x01" * 64, "figures.xlsx", "damaged or incomplete"),
    "header_date": (
        _workbook({1: ["indicator", date(2025, 1, 1), "value"], 2: ["HRC-EDU-01", "2025", 40]}),
        "figures.xlsx",
        "must hold column names as text",
    ),
    "row_beyond_bounds": (
        _workbook({1: ["indicator", "period", "value"], MAX_XLSX_ROW + 1: ["HRC-EDU-01"]}),
        "figures.xlsx",
        "an import reads rows 1 to",
    ),
}
WHOLE_EXPECTED = {
    "fr": {
        "not_utf8": "Le fichier ne peut pas être lu : ce n'est pas du texte UTF-8 (le premier "
        "caractère illisible est à la ligne 3). Dans votre tableur, choisissez « Enregistrer "
        "sous » → « CSV UTF-8 », ou importez plutôt le classeur .xlsx.",
        "empty": "Le fichier ne peut pas être lu : il est vide.",
        "binary": "Le fichier ne peut pas être lu : il ressemble à un fichier binaire, pas à un "
        "fichier texte CSV ni à un classeur .xlsx.",
        "no_header": "Le fichier ne peut pas être lu : il n'a pas de ligne d'en-tête ; la "
        "première ligne doit nommer les colonnes.",
        "column_twice": "Le fichier ne peut pas être lu : la colonne « period » apparaît deux "
        "fois dans la ligne d'en-tête (ligne 1). Chaque nom de colonne ne peut apparaître "
        "qu'une fois.",
        "unnamed_column": "Le fichier ne peut pas être lu : la colonne 2 de la ligne d'en-tête "
        "(ligne 1) n'a pas de nom. Chaque colonne doit avoir un intitulé.",
        "old_xls": "Le fichier ne peut pas être lu : c'est un ancien fichier Excel (.xls). "
        "Ouvrez-le dans votre tableur et enregistrez-le comme classeur Excel (.xlsx) ou au "
        "format « CSV UTF-8 », puis importez-le de nouveau.",
        "named_like_workbook": "Le fichier ne peut pas être lu : « figures.xlsx » porte le nom "
        "d'un classeur Excel mais n'en est pas un (un fichier .xlsx est une archive zip). "
        "Enregistrez-le de nouveau depuis votre tableur.",
        "damaged_workbook": "Le fichier ne peut pas être lu : il ressemble à un classeur Excel "
        "(.xlsx) mais il est endommagé ou incomplet. Enregistrez-le de nouveau et importez la "
        "nouvelle copie.",
        "header_date": "Le fichier ne peut pas être lu : la ligne d'en-tête (ligne 1) doit "
        "contenir les noms des colonnes sous forme de texte ; la cellule B1 n'en contient pas "
        "(elle contient une date, un nombre invalide ou un caractère qui n'est pas du texte). "
        "Écrivez-y le nom de la colonne.",
        # Row numbers and counts are figures: written the French way (a narrow no-break space).
        "row_beyond_bounds": "Le fichier ne peut pas être lu : la feuille a des cellules à la "
        "ligne 210\u202f001 ; une importation lit les lignes 1 à 210\u202f000 (au plus "
        "200\u202f000 lignes de données). Supprimez les lignes sous vos données "
        "(sélectionnez-les, clic droit, Supprimer) et enregistrez de nouveau.",
    },
    "sw": {
        "not_utf8": "Faili haliwezi kusomwa: si maandishi ya UTF-8 (herufi ya kwanza isiyosomeka "
        "iko kwenye mstari wa 3). Katika programu yako ya lahajedwali chagua “Hifadhi kama” → "
        "“CSV UTF-8”, au pakia kitabu cha kazi cha .xlsx badala yake.",
        "empty": "Faili haliwezi kusomwa: ni tupu.",
        "binary": "Faili haliwezi kusomwa: linaonekana kuwa faili la binary, si faili la "
        "maandishi la CSV wala kitabu cha kazi cha .xlsx.",
        "no_header": "Faili haliwezi kusomwa: halina safu ya vichwa; safu ya kwanza lazima "
        "itaje majina ya safu wima.",
        "column_twice": "Faili haliwezi kusomwa: safu wima “period” inaonekana mara mbili katika "
        "safu ya vichwa (safu ya 1). Kila jina la safu wima linaweza kuonekana mara moja tu.",
        "unnamed_column": "Faili haliwezi kusomwa: safu wima ya 2 ya safu ya vichwa (safu ya 1) "
        "haina jina. Kila safu wima inahitaji kichwa.",
        "old_xls": "Faili haliwezi kusomwa: hili ni faili la Excel la mtindo wa zamani (.xls). "
        "Lifungue katika programu yako ya lahajedwali na ulihifadhi kama kitabu cha kazi cha "
        "Excel (.xlsx) au kama “CSV UTF-8”, kisha ulipakie tena.",
        "named_like_workbook": "Faili haliwezi kusomwa: “figures.xlsx” lina jina la kitabu cha "
        "kazi cha Excel lakini si kitabu cha kazi (faili la .xlsx ni kumbukumbu ya zip). "
        "Lihifadhi tena kutoka kwenye programu yako ya lahajedwali.",
        "damaged_workbook": "Faili haliwezi kusomwa: linaonekana kuwa kitabu cha kazi cha Excel "
        "(.xlsx) lakini limeharibika au halijakamilika. Lihifadhi tena kisha upakie nakala mpya.",
        "header_date": "Faili haliwezi kusomwa: safu ya vichwa (safu ya 1) lazima iwe na majina "
        "ya safu wima kama maandishi; kisanduku B1 hakina jina hivyo (kina tarehe, namba isiyo "
        "sahihi au herufi ambayo si maandishi). Andika jina la safu wima ndani yake.",
        "row_beyond_bounds": "Faili haliwezi kusomwa: karatasi ina visanduku kwenye safu ya "
        "210,001; uingizaji husoma safu ya 1 hadi ya 210,000 (zisizozidi safu 200,000 za data). "
        "Futa safu zilizo chini ya data yako (zichague, bofya kulia, Futa) kisha uhifadhi tena.",
    },
}


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("case", sorted(WHOLE_FILES))
def test_a_file_refused_whole_is_explained_in_the_readers_language(
    web: FlaskClient, official: Caller, db: Callable[[], Any], locale: str, case: str
) -> None:
    data, filename, english = WHOLE_FILES[case]
    login(in_language(web, locale), official)
    status, html = _upload(web, data, filename)
    assert status == 422, html[-3000:]
    expected = WHOLE_EXPECTED[locale][case]
    # The whole sentence, where the page used to say "…cannot be read" then the English reason.
    assert _flash(html) == expected
    assert _problems(html) == []  # said once: the alert is the whole refusal
    assert english not in html
    assert "In English" not in html and "(En anglais" not in html and "Kwa Kiingereza" not in html
    assert _stored(db) == (0, 0)


def test_an_english_page_and_the_api_keep_the_english_reason(
    web: FlaskClient, app: Flask, official: Caller, db: Callable[[], Any]
) -> None:
    reason = (
        "The column 'period' appears twice in the header row (row 1). Each column name may "
        "appear once."
    )
    login(in_language(web, "en"), official)
    status, html = _upload(web, WHOLE_FILES["column_twice"][0], "figures.csv")
    assert status == 422
    assert _flash(html) == f"The file cannot be read: {reason}"
    assert _problems(html) == []  # said once: the alert is the whole refusal
    answer = app.test_client().post(
        "/api/v1/results/import",
        data={"file": (io.BytesIO(WHOLE_FILES["column_twice"][0]), "figures.csv"), "layout": "own"},
        content_type="multipart/form-data",
        headers=official.headers,
    )
    body = answer.get_json()
    assert (answer.status_code, body["code"]) == (422, "unreadable_file")
    assert body["detail"] == f"The file cannot be read: {reason}"
    assert body["errors"] == [{"row": None, "column": None, "message": reason}]
    assert _stored(db) == (0, 0)


# --- rows refused --------------------------------------------------------------------------------

CSV_ROWS = (
    b"indicator,period,value\n"
    b"HRC-EDU-01,2025\n"  # row 2: two cells, three columns
    b"HRC-EDU-01,2024,40,9,9\n"  # row 3: two cells right of the header
)
CSV_EXPECTED = {
    "fr": {
        "2": [
            "Cette ligne a 2 cellules mais l'en-tête a 3 colonnes. Vérifiez s'il manque un "
            "séparateur ou si une cellule a été coupée en deux."
        ],
        "3": [
            "Cette ligne a des valeurs à droite de la dernière colonne nommée (2 de plus que "
            "l'en-tête). Donnez un nom à chaque colonne à la ligne 1 ou supprimez les cellules "
            "en trop."
        ],
    },
    "sw": {
        "2": [
            "Safu hii ina visanduku 2 lakini safu ya vichwa ina safu wima 3. Angalia kama "
            "kitenganishi kimekosekana au kisanduku kimegawanywa sehemu mbili."
        ],
        "3": [
            "Safu hii ina thamani upande wa kulia wa safu wima ya mwisho yenye jina (2 zaidi ya "
            "safu ya vichwa). Ipe kila safu wima jina katika safu ya 1 au ondoa visanduku vya "
            "ziada."
        ],
    },
}


def _workbook_rows() -> bytes:
    data = _workbook(
        {
            1: ["indicator", "period", "value"],
            2: ["HRC-EDU-01", date(2025, 1, 1), 40],  # B2: a date typed as the period
            3: ["HRC-EDU-01", "2024", 40, "x"],  # D3: a value right of the last named column
            4: ["HRC-EDU-01", "2023", 7777],  # C4: becomes an infinite number below
        }
    )
    return _rewrite_sheet(data, b"<v>7777</v>", b"<v>1E999</v>")


XLSX_EXPECTED = {
    "fr": {
        "2": [
            "La cellule B2 contient une date ou une heure. Saisissez les périodes comme du "
            "texte, par exemple 2025, 2025-H1, 2025-Q3 ou 2025-07, et les valeurs comme de "
            "simples nombres (mettez la cellule au format « Texte » ou « Standard »)."
        ],
        "3": [
            "Cette ligne a des valeurs à droite de la dernière colonne nommée. Donnez un nom à "
            "chaque colonne à la ligne 1 ou supprimez les cellules en trop."
        ],
        "4": ["La cellule C4 contient un nombre invalide (infini ou qui n'est pas un nombre)."],
    },
    "sw": {
        "2": [
            "Kisanduku B2 kina tarehe au saa. Andika vipindi kama maandishi, kwa mfano 2025, "
            "2025-H1, 2025-Q3 au 2025-07, na thamani kama namba za kawaida (weka muundo wa "
            "kisanduku kuwa “Maandishi” au “Jumla”)."
        ],
        "3": [
            "Safu hii ina thamani upande wa kulia wa safu wima ya mwisho yenye jina. Ipe kila "
            "safu wima jina katika safu ya 1 au ondoa visanduku vya ziada."
        ],
        "4": ["Kisanduku C4 kina namba isiyo sahihi (isiyo na kikomo au isiyo namba)."],
    },
}
ROW_ENGLISH = ("This row has", "holds a date", "holds an invalid number", "The cell")


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_each_row_the_reader_refuses_is_explained_in_the_readers_language(
    web: FlaskClient, official: Caller, db: Callable[[], Any], locale: str, kind: str
) -> None:
    login(in_language(web, locale), official)
    if kind == "csv":
        status, html = _upload(web, CSV_ROWS, "figures.csv")
        expected = CSV_EXPECTED[locale]
    else:
        status, html = _upload(web, _workbook_rows(), "figures.xlsx")
        expected = XLSX_EXPECTED[locale]
    assert status == 422, html[-3000:]
    assert _rows(html) == expected
    for english in ROW_ENGLISH:
        assert english not in html
    assert _stored(db) == (0, 0)


# --- every language -------------------------------------------------------------------------------

ALL_LOCALES = ("fr", "es", "nl", "it", "sw")


@pytest.mark.parametrize("locale", ALL_LOCALES)
def test_no_english_word_of_ours_in_the_readers_refusals_in_any_other_language(
    web: FlaskClient, official: Caller, db: Callable[[], Any], locale: str
) -> None:
    # The sentences of es, nl and it are not written out above: the same files are uploaded in
    # all five languages and no message may keep an English function word once the data it
    # quotes (the file's name, a column's name) is taken out (tests/web/test_refusal_words.py).
    login(in_language(web, locale), official)
    messages: list[str] = []
    for data, filename, _english in WHOLE_FILES.values():
        status, html = _upload(web, data, filename)
        assert status == 422, html[-3000:]
        messages += [_flash(html), *_problems(html)]
    for data, filename in ((CSV_ROWS, "figures.csv"), (_workbook_rows(), "figures.xlsx")):
        status, html = _upload(web, data, filename)
        assert status == 422, html[-3000:]
        messages += [m for found in _rows(html).values() for m in found]
    assert len(messages) == len(WHOLE_FILES) + 5, messages  # each whole-file refusal said once
    left = {m: _english_left(m, ["figures.xlsx", "period"]) for m in messages}
    assert not {m: w for m, w in left.items() if w}, {m: w for m, w in left.items() if w}
    assert _stored(db) == (0, 0)
