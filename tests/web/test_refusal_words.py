"""No English word of ours inside a translated refusal (issue 15: "a page shows an unmarked
string" must fail a test).

A translated message quotes its refusal's ``params`` as they are. A parameter that carries words
("none yet", "F (Female), and 3 more", "none (totals only)") put English into a French or
Swahili sentence, where no catalogue check could see it: the words were never marked. Lists now
travel as :class:`node.refusals.Items` (data items and a count, written the reader's way), and
an empty list is a message of its own. Three checks keep it so:

- **the sources**: every ``params={...}`` of a refusal or field message is read (its values, the
  local names they use and the functions they call in the same file); a string written there
  with an English function word (and, more, none, yet, or, not, only, the, totals) fails;
- **the pages**: refused files with every cell rule of both layouts and of the column mapping
  are uploaded in each of the five other languages; every message of the page, once the data it
  quotes is taken out (the file's cells, the catalogue's codes and labels, the mapping's names)
  and the deliberate English detail after a "(In English: …)" is set aside, must hold none of
  those words;
- **the lists**: "and N more" in each language, singular and plural, at the limit's edges.
"""

from __future__ import annotations

import ast
import io
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from node.catalogue_view import DimensionInfo
from node.importing.own_layout import describe_codes
from node.models import Result
from node.refusals import Items, Problem, page_message
from node.services import catalogue
from tests.support import Caller
from tests.web.language_support import in_language, plain_text
from tests.web.test_open_sdg_import_pages import BAD_FILE, BAD_PROFILE, PROFILE, _problems
from tests.web.test_pages import csrf_token, login

ROOT = Path(__file__).resolve().parents[2]
LOCALES = ("fr", "es", "nl", "it", "sw")
# English function words: never data, never right in another language's sentence. (Not "of" or
# "is": they are Dutch words too.)
FUNCTION_WORDS = ("and", "more", "none", "yet", "or", "not", "only", "the", "totals")
_WORD_RE = re.compile(r"\b(" + "|".join(FUNCTION_WORDS) + r")\b", re.IGNORECASE)
# On a page, a yes/no figure written as we store it is English too. (Not in the source scan:
# the sources read "true"/"false" from files and rows, which is not writing them.)
_PAGE_WORD_RE = re.compile(r"\b(" + "|".join((*FUNCTION_WORDS, "true", "false")) + r")\b", re.I)


def english_words(text: str, pattern: re.Pattern[str] = _WORD_RE) -> list[str]:
    """The English function words in ``text`` (whole words, any case)."""
    return [match.group(0) for match in pattern.finditer(text)]


def test_the_word_check_finds_the_words_it_must() -> None:
    assert english_words("F (Female), M (Male), and 3 more") == ["and", "more"]
    assert english_words("known: none yet") == ["none", "yet"]
    assert english_words("none (totals only)") == ["none", "totals", "only"]
    # Words of the other languages that merely look alike are not English function words.
    assert english_words("Codes de SEX : F (Female) et 3 autres") == []
    assert english_words("geef “indicator”, of “units”; dit is geen jaar") == []
    assert english_words("Andika mwaka kwa tarakimu nne; thamani si sahihi") == []


# --- the sources ---------------------------------------------------------------------------------


def _sources() -> Iterator[Path]:
    for package in ("node", "peer_review"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if not set(path.relative_to(ROOT).parts) & {"demo", "migrations"}:
                yield path


def _strings(node: ast.AST) -> Iterator[str]:
    """The string constants written inside ``node`` (f-strings' literal parts included)."""
    for inner in ast.walk(node):
        if isinstance(inner, ast.Constant) and isinstance(inner.value, str):
            yield inner.value


def _functions(tree: ast.AST) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    return {
        node.name: node
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def _body_strings(function: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterator[str]:
    """The strings a function's body writes, its docstring left out."""
    body = function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    for statement in body:
        yield from _strings(statement)


def _param_sources(
    value: ast.expr,
    scope: ast.AST,
    functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef],
) -> Iterator[tuple[str, str]]:
    """(where, string) for what one parameter's value is built from: its own strings, those
    assigned to the local names it uses, and those of the functions of this file it calls."""
    yield from (("value", text) for text in _strings(value))
    names = {n.id for n in ast.walk(value) if isinstance(n, ast.Name)}
    computed: list[ast.AST] = [value]
    for node in ast.walk(scope):
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id in names for t in targets):
                computed.append(node.value)
                yield from (("a local name", text) for text in _strings(node.value))
    called = {
        inner.func.id
        for node in computed
        for inner in ast.walk(node)
        if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name)
    }
    for name in sorted(called):
        function = functions.get(name)
        if function is not None:
            yield from ((f"{name}()", text) for text in _body_strings(function))


def english_in_params(source: str) -> list[tuple[int, str, str]]:
    """(line, where, string) for each English function word a ``params={...}`` is built from."""
    tree = ast.parse(source)
    functions = _functions(tree)
    found: list[tuple[int, str, str]] = []
    scopes = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    for scope in scopes:
        for call in ast.walk(scope):
            if not isinstance(call, ast.Call):
                continue
            for keyword in call.keywords:
                if keyword.arg != "params" or not isinstance(keyword.value, ast.Dict):
                    continue
                for value in keyword.value.values:
                    for where, text in _param_sources(value, scope, functions):
                        if english_words(text):
                            found.append((call.lineno, where, text))
    return found


def test_the_params_scan_finds_english_built_into_a_parameter() -> None:
    # The shapes the scan must see (each was in the sources before issue 15's last part).
    before = '''
def describe_codes(dimension):
    """Codes, for messages."""
    codes = list(dimension.codes)
    if not codes:
        return "none yet"
    return ", ".join(codes[:15]) + (f", and {len(codes) - 15} more" if len(codes) > 15 else "")

def parse(info, catalogue, text):
    known = ", ".join(catalogue.dimensions) or "none"
    allowed = ", ".join(info.dimensions) or "none (totals only)"
    known_codes = describe_codes(info)
    Problem("x", params={"known": known})
    Problem("x", params={"allowed": allowed})
    Problem("x", params={"known": known_codes, "code": text[:60]})
    Problem("x", params={"given": text[:40], "words": "yes or no"})
'''
    found = {text for _line, _where, text in english_in_params(before)}
    assert {"none", "none (totals only)", "none yet", ", and ", " more", "yes or no"} <= found
    # Data and English written only in the detail (not in a parameter) are not flagged.
    after = """
def parse(info, text):
    allowed = Items.of(info.dimensions)
    Problem(f"no breakdown; its breakdowns are: {allowed or 'none (totals only)'}.",
            params={"allowed": allowed, "code": text[:60]})
"""
    assert english_in_params(after) == []


def test_no_refusal_parameter_is_built_from_english_words() -> None:
    found = {
        f"{path.relative_to(ROOT)}:{line} ({where}): {text!r}"
        for path in _sources()
        for line, where, text in english_in_params(path.read_text(encoding="utf-8"))
    }
    assert not found, "refusal parameters built from English words:\n" + "\n".join(sorted(found))


# --- the pages -----------------------------------------------------------------------------------


@pytest.fixture
def web(app: Flask) -> FlaskClient:
    app.config["WTF_CSRF_ENABLED"] = True
    return app.test_client()


OWN_FILE = (
    "indicator,period,value,status,DISTRICT,SEX,Colour\n"
    "HRC-EDU-01,2025,40,pubished,,,\n"  # a status that is not one
    "HRC-EDU-01,2024,40,,ZZ9,,\n"  # not a code of DISTRICT (18 codes: "and 3 more")
    "HRC-EDU-01,2023,40,,,Woamn,\n"  # not a code of SEX
    "HRC-GOV-01,2023,maybe,,,,\n"  # not a yes/no
    "HRC-GOV-01,2022,true,,,F,\n"  # a breakdown of an indicator with totals only
    "HRC-EDU-03,2022,40,,,F,\n"  # a breakdown the indicator does not have (it has one)
    "HRC-EDU-01,2021,40,,,,\n"
    "HRC-EDU-01,2021,41,,,,\n"  # the same total again, another value
    "HRC-GOV-01,2020,true,,,,\n"
    "HRC-GOV-01,2020,false,,,,\n"  # the same yes/no again, the other answer
    "HRC-EDU-01,2019,40,,D01,F,\n"
    "HRC-EDU-01,2019,41,,D01,F,\n"  # the same breakdown again, another value
)
ENGLISH_DETAIL = re.compile(
    r"\((?:In English|En anglais|En inglés|In het Engels|In inglese|Kwa Kiingereza) ?: .*\)",
    re.S,
)


def _data(db: Callable[[], Any], *uploads: str, profile: Any = None) -> list[str]:
    """What a message may quote as it is: the files' cells, the catalogue's codes and labels,
    the column mapping's names; longest first (a label before the words inside it)."""
    data: set[str] = set()
    for upload in uploads:
        for line in upload.splitlines():
            data |= {cell.strip('"') for cell in line.split(",") if cell}
    with db() as session:
        view = catalogue.view(session)
    for code, dimension in view.dimensions.items():
        data |= {code, dimension.label, *dimension.codes, *dimension.codes.values()}
    data |= set(view.indicators)
    data |= set(re.findall(r'"([^"]+)"', json.dumps(profile))) if profile else set()
    return sorted(data, key=len, reverse=True)


def _english_left(message: str, data: list[str]) -> list[str]:
    text = ENGLISH_DETAIL.sub("", message)
    for quoted in data:
        text = text.replace(quoted, " ")
    return english_words(text, _PAGE_WORD_RE)


def _add_districts(db: Callable[[], Any]) -> None:
    with db() as session:
        catalogue.add_dimension_codes(
            session,
            "DISTRICT",
            [{"code": f"D{n:02d}", "label": f"District {n}"} for n in range(1, 19)],
        )
        session.commit()


def _upload(web: FlaskClient, csv: str, layout: str, profile: Any = None) -> str:
    answer = web.post(
        "/import",
        data={
            "csrf_token": csrf_token(web, "/import"),
            "layout": layout,
            "profile": json.dumps(profile) if profile is not None else "",
            "file": (io.BytesIO(csv.encode()), "figures.csv"),
        },
        content_type="multipart/form-data",
    )
    html = plain_text(answer.get_data(as_text=True))
    assert answer.status_code == 422, html[-3000:]
    return html


@pytest.mark.parametrize("locale", LOCALES)
def test_refused_imports_show_no_english_word_of_ours_in_any_other_language(
    web: FlaskClient, official: Caller, db: Callable[[], Any], locale: str
) -> None:
    _add_districts(db)
    login(in_language(web, locale), official)
    uploads = [
        (OWN_FILE, "own", None),
        (BAD_FILE, "open-sdg", PROFILE),
        ("Year,Gender,Value\n2020,,40\n", "open-sdg", BAD_PROFILE),
        ("Year,Gender,Value\n2020,,40\n", "open-sdg", {"indicator": "HRC-EDU-01", "units": []}),
    ]
    messages: list[str] = []
    for csv, layout, profile in uploads:
        messages += _problems(_upload(web, csv, layout, profile))
    assert len(messages) == 24, messages  # every rule above reached the page
    data = _data(db, OWN_FILE, BAD_FILE, profile=[PROFILE, BAD_PROFILE])
    left = {message: _english_left(message, data) for message in messages}
    assert not {m: w for m, w in left.items() if w}, {m: w for m, w in left.items() if w}


VOUCHED = {
    "fr": "Ce chiffre a déjà le statut « validé » (valeur oui) : dites pourquoi il change.",
    "sw": "Takwimu hii tayari ina hali “imethibitishwa” (thamani ndiyo): sema kwa nini "
    "inabadilika.",
}


@pytest.mark.parametrize("locale", sorted(VOUCHED))
def test_a_vouched_yes_no_figure_is_quoted_in_the_readers_words(
    web: FlaskClient, official: Caller, db: Callable[[], Any], locale: str
) -> None:
    # Its stored value is the text "true": the refusal quotes the answer, not our stored word.
    login(in_language(web, locale), official)
    answer = web.post(
        "/import",
        data={
            "csrf_token": csrf_token(web, "/import"),
            "layout": "own",
            "file": (
                io.BytesIO(b"indicator,period,value,status\nHRC-GOV-01,2020,true,validated\n"),
                "a.csv",
            ),
        },
        content_type="multipart/form-data",
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)[-3000:]
    html = _upload(web, "indicator,period,value,status\nHRC-GOV-01,2020,false,validated\n", "own")
    problems = _problems(html)
    assert len(problems) == 1 and problems[0].startswith(VOUCHED[locale]), problems
    with db() as session:
        assert [r.value_text for r in session.scalars(select(Result))] == ["true"]


# --- the lists -----------------------------------------------------------------------------------

# "…, and N more" in each language: the list pattern of the language, the count its way.
MORE = {
    "en": ("A, B, and 1 more", "A, B, and 1,234 more"),
    "fr": ("A, B et 1 autre", "A, B et 1\u202f234 autres"),
    "es": ("A, B y 1 más", "A, B y 1.234 más"),
    "nl": ("A, B en nog 1", "A, B en nog 1.234"),
    "it": ("A, B e 1 altro", "A, B e altri 1.234"),
    "sw": ("A, B na 1 zaidi", "A, B na 1,234 zaidi"),
}


@pytest.mark.parametrize("locale", sorted(MORE))
def test_a_shortened_list_says_how_many_more_in_the_readers_words(app: Flask, locale: str) -> None:
    with app.test_request_context(headers={"Accept-Language": locale}):
        one, many = Items(("A", "B"), 1), Items(("A", "B"), 1234)
        assert (one.shown(), many.shown()) == MORE[locale]
        assert Items(("A",)).shown() == "A"
        assert Items(()).shown() == ""


def _dimension(count: int) -> DimensionInfo:
    codes = {"_T": "Total"} | {f"C{n:02d}": f"Code {n}" for n in range(1, count + 1)}
    return DimensionInfo("DIM", "A dimension", codes)


@pytest.mark.parametrize(
    ("count", "english", "french_tail"),
    [
        (0, "", None),  # no codes yet: the message of its own, never "none yet" in a parameter
        (14, "C14 (Code 14)", "C13 (Code 13) et C14 (Code 14)"),
        (15, "C15 (Code 15)", "C14 (Code 14) et C15 (Code 15)"),  # the limit: all quoted
        (16, "C15 (Code 15), and 1 more", "C15 (Code 15) et 1 autre"),
        (17, "C15 (Code 15), and 2 more", "C15 (Code 15) et 2 autres"),
    ],
)
def test_the_codes_an_import_message_quotes_stop_at_fifteen_and_count_the_rest(
    app: Flask, count: int, english: str, french_tail: str | None
) -> None:
    codes = describe_codes(_dimension(count))
    assert str(codes).endswith(english) and bool(codes) is (count > 0)
    assert len(codes.items) == min(count, 15) and codes.more == max(count - 15, 0)
    with app.test_request_context(headers={"Accept-Language": "fr"}):
        if french_tail is not None:
            assert codes.shown().endswith(french_tail)
            message = page_message(
                _unknown_code(codes, count)  # the whole sentence, as a page shows it
            )
            assert message.endswith(f"Codes connus : {codes.shown()}."), message
            assert not english_words(message.replace("A dimension", "")), message


def _unknown_code(codes: Items, count: int) -> Problem:
    return Problem(
        f"'ZZ' is not a code of DIM (A dimension). Known codes: {codes}.",
        params={"code": "ZZ", "dimension": "DIM", "label": "A dimension", "known": codes},
        variant="import_unknown_code" if count else "import_unknown_code_none_yet",
    )
