"""Six languages: complete catalogues, no unmarked page text, the language menu, the browser's
preference, localised numbers and dates, and decimal commas in forms (issue 15).

The catalogue checks extract the marked strings from the sources *now* (the same mapping as
``make i18n-extract``), so a string marked tomorrow without a translation fails here.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from jinja2 import Environment
from sqlalchemy import select

from node.i18n import SUPPORTED_LOCALES, normalise_decimal_input
from tests.support import Caller
from tests.web.test_pages import csrf_token, login

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "node" / "translations"
SIX = ("en", "fr", "es", "nl", "it", "sw")
# The keywords `make i18n-extract` passes to pybabel (-k): lazy labels and the data-word marker.
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None, "N_": None}
# %(name)s / %(n)d placeholders and the escaped percent sign.
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|%%")
# Plural rules as gettext writes them (Babel's CLDR data): French counts 0 and 1 as singular.
PLURAL_RULES = {
    "en": (2, "(n != 1)"),
    "fr": (2, "(n > 1)"),
    "es": (2, "(n != 1)"),
    "nl": (2, "(n != 1)"),
    "it": (2, "(n != 1)"),
    "sw": (2, "(n != 1)"),
}


def _extracted() -> dict[str, Any]:
    """msgid (or (singular, plural)) → where it was found, for every marked string now."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    found: dict[Any, str] = {}
    for filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        key = message if isinstance(message, str) else tuple(message[:2])
        found.setdefault(key, filename)
    return found


@pytest.fixture(scope="module")
def extracted() -> dict[str, Any]:
    return _extracted()


def _catalogue(locale: str) -> Catalog:
    with (TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=locale)


def _plain(value: Any) -> Any:
    """A message id or string as a hashable, comparable value (plural ones are lists in .mo)."""
    return tuple(value) if isinstance(value, list | tuple) else value


def _placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


# --- (a) complete catalogues ----------------------------------------------------------------


def test_the_app_offers_exactly_the_six_languages() -> None:
    assert SUPPORTED_LOCALES == SIX
    for locale in SIX:
        assert (TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po").is_file(), locale


def test_extraction_covers_python_and_templates_of_every_feature(
    extracted: dict[str, Any],
) -> None:
    """babel.cfg reaches node/ and peer_review/, Python and templates (a sample of each)."""
    files = set(extracted.values())
    assert any(f.startswith("node/templates/") for f in files)
    assert any(f.startswith("peer_review/mentoring/templates/") for f in files)
    assert any(f.startswith("node/web/") and f.endswith(".py") for f in files)
    assert any(f.startswith("peer_review/") and f.endswith(".py") for f in files)
    assert "Skip to content" in extracted and "E-mail" in extracted  # template, form label
    assert ("%(num)d reply", "%(num)d replies") in extracted  # ngettext in a template
    # Templates moved next to their feature (peer_review/<feature>/templates/) are covered too.
    with (ROOT / "babel.cfg").open(encoding="utf-8") as fh:
        patterns = [pattern for pattern, _method in parse_mapping_cfg(fh)[0]]
    assert "peer_review/**/templates/**.html" in patterns


@pytest.mark.parametrize("locale", SIX)
def test_every_marked_string_has_a_translation(locale: str, extracted: dict[str, Any]) -> None:
    catalogue = _catalogue(locale)
    problems = []
    for key, where in extracted.items():
        msgid = key if isinstance(key, str) else key[0]
        message = catalogue.get(msgid)
        if message is None:
            problems.append(f"missing ({where}): {msgid!r}")
            continue
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(form and form.strip() for form in forms):
            problems.append(f"untranslated or fuzzy ({where}): {msgid!r}")
    assert not problems, (
        f"{len(problems)} strings lack a {locale} translation (run `make i18n-extract`, then "
        "translate in node/translations/):\n" + "\n".join(problems[:40])
    )


@pytest.mark.parametrize("locale", SIX)
def test_translations_keep_the_placeholders(locale: str) -> None:
    """Same %(name)s placeholders as the msgid, and no stray "%": Jinja's gettext applies
    ``%`` formatting to every template string, so a lone "%" would be a 500 on that page."""
    problems = []
    for message in _catalogue(locale):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        for form in forms:
            # Every plural form may use the count; each must keep the plural msgid's names.
            expected = _placeholders(ids[-1])
            if _placeholders(form) != expected:
                problems.append(f"{message.id!r} → {form!r}")
            if "%" in PLACEHOLDER.sub("", form):
                problems.append(f"stray % in {form!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("locale", SIX)
def test_plural_forms_follow_the_language(locale: str) -> None:
    catalogue = _catalogue(locale)
    count, expression = PLURAL_RULES[locale]
    assert catalogue.num_plurals == count
    assert catalogue.plural_expr == expression
    plural = catalogue.get("%(num)d reply")
    assert plural is not None and isinstance(plural.string, tuple)
    assert len(plural.string) == count and all(plural.string)


@pytest.mark.parametrize("locale", SIX)
def test_compiled_catalogues_match_their_sources(locale: str) -> None:
    """The .mo the app loads says what the .po says (else: run `make i18n-compile`)."""
    mo_path = TRANSLATIONS / locale / "LC_MESSAGES" / "messages.mo"
    assert mo_path.is_file(), f"{mo_path} is missing: run `make i18n-compile`"
    with mo_path.open("rb") as fh:
        compiled = {_plain(m.id): _plain(m.string) for m in read_mo(fh) if m.id}
    source = {_plain(m.id): _plain(m.string) for m in _catalogue(locale) if m.id and not m.fuzzy}
    assert compiled == source, f"{mo_path} is stale: run `make i18n-compile`"


def test_data_words_list_every_value_pages_translate() -> None:
    """Pages show states, types and trends with {{ _(value) }}; each value must be extractable."""
    from node.web import words
    from node.web.views import STATUS_LABELS
    from schemas import catalogue, mentoring, secretariat

    lists = [getattr(words, name) for name in dir(words) if name.isupper()]
    listed = {value for values in lists if isinstance(values, tuple) for value in values}
    expected = {
        *catalogue.INDICATOR_TYPES,
        *mentoring.STATES,
        *mentoring.OUTCOMES,
        *mentoring.NOTE_KINDS,
        *mentoring.SESSION_STATES,
        *mentoring.GOAL_STATUSES,
        *mentoring.ACTION_ITEM_STATUSES,
        *secretariat.TRENDS,
        *STATUS_LABELS.values(),
        "draft",
        "validated",
        "published",
    }
    assert expected <= listed, sorted(expected - listed)


# --- (b) no unmarked text on a page ---------------------------------------------------------

# Words that are the same in every language: names and standard abbreviations.
UNTRANSLATED_WORDS = {"API", "UTC", "hrcnet", "HTTP"}
VISIBLE_ATTRIBUTES = {"title", "alt", "placeholder", "aria-label", "label"}


class _TextFinder(HTMLParser):
    """Collects human-visible text left in a template once every Jinja tag is removed."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._code = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "code", "pre"):
            self._code += 1
        for name, value in attrs:
            if value and (
                name in VISIBLE_ATTRIBUTES
                or (name == "value" and dict(attrs).get("type") in ("submit", "button"))
            ):
                self._check(value, f"<{tag} {name}>")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "code", "pre") and self._code:
            self._code -= 1

    def handle_data(self, data: str) -> None:
        if not self._code:
            self._check(data, "text")

    def _check(self, text: str, where: str) -> None:
        words = set(re.findall(r"[^\W\d_]{2,}", text))
        if words - UNTRANSLATED_WORDS:
            self.found.append(f"{where}: {' '.join(text.split())[:80]!r}")


def _templates() -> Iterator[Path]:
    for top in ("node", "peer_review"):
        yield from sorted((ROOT / top).glob("**/templates/**/*.html"))


def unmarked_text(source: str) -> list[str]:
    """Text of a template a reader sees that is not inside a Jinja expression or tag.

    Every ``{{ … }}`` / ``{% … %}`` is replaced by a space (what it prints is translated
    where it is produced, or is data); what remains is the template's own words, which must
    all be in ``_()``.
    """
    # Only the lexer runs (nothing is rendered), so autoescaping does not apply.
    env = Environment(extensions=["jinja2.ext.i18n"], autoescape=True)
    remaining = "".join(value if kind == "data" else " " for _l, kind, value in env.lex(source))
    finder = _TextFinder()
    finder.feed(remaining)
    finder.close()
    return finder.found


def test_the_unmarked_text_finder_finds_text() -> None:
    """The finder itself: it flags plain words, attributes and text between tags only."""
    assert unmarked_text("<p>Hello {{ _('x') }}</p>") == ["text: 'Hello'"]
    assert unmarked_text('<a title="Open it" href="/x">{{ _("Open") }}</a>')
    assert unmarked_text("<th>seq</th>")
    assert not unmarked_text("<p>{{ _('Hello') }} · {{ name }} (API, UTC)</p>")
    assert not unmarked_text('<a href="/api/x" class="badge s-{{ s }}">{{ _(s) }}</a>')
    assert not unmarked_text("<p>{% if x %}{{ _('A') }}{% endif %} – 12</p>")


def test_no_template_shows_unmarked_text() -> None:
    problems = []
    templates = list(_templates())
    assert len(templates) > 20  # the glob found the pages
    for path in templates:
        for finding in unmarked_text(path.read_text(encoding="utf-8")):
            problems.append(f"{path.relative_to(ROOT)}: {finding}")
    assert not problems, "Wrap these in {{ _('…') }}:\n" + "\n".join(problems)


def _form_modules() -> Iterator[Path]:
    yield from sorted((ROOT / "node" / "web").glob("*forms*.py"))
    yield from sorted((ROOT / "peer_review").glob("**/*forms*.py"))


def test_form_labels_and_choices_are_marked() -> None:
    """Labels, descriptions and choice labels of the page forms go through _l()/_()."""
    problems = []
    for path in _form_modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            if node.func.id == "SelectChoice":  # SelectChoice(value, label)
                texts = list(node.args[1:2])
            elif node.func.id.endswith("Field"):
                texts = list(node.args[:1])
            else:
                continue
            for keyword in node.keywords:
                if keyword.arg in ("label", "description"):
                    texts.append(keyword.value)
                if keyword.arg == "choices" and isinstance(keyword.value, ast.Dict):
                    texts.extend(keyword.value.values)
                choice_labels = (
                    keyword.value.value if isinstance(keyword.value, ast.DictComp) else None
                )
                if keyword.arg == "choices" and isinstance(choice_labels, ast.Name | ast.Constant):
                    problems.append(f"{path.name}:{keyword.value.lineno}: choice labels")
            for text in texts:
                if isinstance(text, ast.Constant) and isinstance(text.value, str) and text.value:
                    problems.append(f"{path.name}:{text.lineno}: {text.value!r}")
    assert not problems, "Mark these with _l():\n" + "\n".join(problems)


# --- rendered pages are in the chosen language ----------------------------------------------


@pytest.fixture
def web(app: Flask) -> FlaskClient:
    app.config["WTF_CSRF_ENABLED"] = True
    return app.test_client()


def _html_lang(html: str) -> str:
    match = re.search(r'<html lang="([^"]+)"', html)
    assert match, "no <html lang>"
    return match.group(1)


def _english_strings_left(html: str, locale: str) -> list[str]:
    """Catalogue strings (long enough to be unmistakable) that show in English on the page."""
    text = re.sub(r"<[^>]+>", " ", html)
    text = re.sub(r"\s+", " ", text).replace("&#39;", "'").replace("&amp;", "&")
    left = []
    for message in _catalogue(locale):
        if not message.id or isinstance(message.id, tuple) or "%" in message.id:
            continue
        if len(message.id) >= 14 and message.string != message.id and message.id in text:
            left.append(message.id)
    return left


PUBLIC_PAGES = ("/", "/catalogue", "/catalogue/HRC-HOU-01", "/login", "/recommendations")
SIGNED_IN_PAGES = (
    "/enter",
    "/enter?indicator=HRC-HOU-01",
    "/import",
    "/account/password",
    "/reviews",
    "/notifications",
    "/peers",
    "/benchmarks",
    "/mentoring",
    "/network/status",
    "/network/secretariat",
)


@pytest.mark.parametrize("locale", ["fr", "es", "nl", "it", "sw"])
def test_pages_render_in_the_language_with_no_english_left(
    web: FlaskClient, admin: Caller, locale: str
) -> None:
    headers = {"Accept-Language": locale}
    login(web, admin)
    for path in PUBLIC_PAGES + SIGNED_IN_PAGES:
        response = web.get(path, headers=headers)
        assert response.status_code == 200, path
        html = response.get_data(as_text=True)
        assert _html_lang(html) == locale, path
        assert not _english_strings_left(html, locale), (path, _english_strings_left(html, locale))


# --- (c) language menu, browser preference, node default ------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected", "title"),
    [
        ("fr-FR,fr;q=0.9,en;q=0.5", "fr", "Progrès vers nos objectifs en matière de droits"),
        ("es-ES,es;q=0.9", "es", "Avances hacia nuestras metas de derechos humanos"),
        ("nl-BE", "nl", "Voortgang naar onze mensenrechtendoelen"),
        ("it", "it", "Progressi verso i nostri obiettivi in materia di diritti umani"),
        ("sw-TZ,sw;q=0.8", "sw", "Maendeleo kuelekea malengo yetu ya haki za binadamu"),
        ("de-DE,de;q=0.9,es;q=0.5", "es", "Avances hacia nuestras metas"),  # first one we have
        ("en-GB", "en", "Progress towards our human rights targets"),
    ],
)
def test_the_browser_preference_picks_the_language(
    web: FlaskClient, accept: str, expected: str, title: str
) -> None:
    html = web.get("/", headers={"Accept-Language": accept}).get_data(as_text=True)
    assert _html_lang(html) == expected
    assert title in html


def test_without_a_preference_the_node_default_then_english(web: FlaskClient, app: Flask) -> None:
    assert _html_lang(web.get("/").get_data(as_text=True)) == "en"
    app.config["BABEL_DEFAULT_LOCALE"] = "it"
    html = web.get("/").get_data(as_text=True)
    assert _html_lang(html) == "it" and "Progressi verso i nostri obiettivi" in html
    app.config["BABEL_DEFAULT_LOCALE"] = "de"  # a default we do not ship: English, not a 500
    assert _html_lang(web.get("/").get_data(as_text=True)) == "en"


def _choose(web: FlaskClient, locale: str, next_path: str, page: str = "/") -> Any:
    token = csrf_token(web, page)
    return web.post("/language", data={"csrf_token": token, "locale": locale, "next": next_path})


def test_every_page_has_the_language_menu(web: FlaskClient) -> None:
    html = web.get("/catalogue", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    menu = re.search(r'<form method="post" action="/language".*?</form>', html, re.S)
    assert menu, "no language menu"
    form = menu.group(0)
    # Each language named in itself (a reader of none of the others still finds theirs) and
    # marked with its lang; the page's language preselected; a plain submit (no JavaScript).
    for code, name in [
        ("en", "English"),
        ("fr", "français"),
        ("es", "español"),
        ("nl", "Nederlands"),
        ("it", "italiano"),
        ("sw", "Kiswahili"),
    ]:
        assert f'<option value="{code}" lang="{code}"' in form and f">{name}</option>" in form
    assert '<option value="fr" lang="fr" selected>' in form
    assert 'name="next" value="/catalogue"' in form and 'type="submit"' in form
    assert '<label for="language-menu">Langue</label>' in form


def test_the_menu_switches_the_language_and_it_is_remembered(web: FlaskClient) -> None:
    french_browser = {"Accept-Language": "fr"}
    assert _html_lang(web.get("/catalogue", headers=french_browser).get_data(as_text=True)) == "fr"
    response = _choose(web, "nl", "/catalogue?type=outcome")
    assert response.status_code == 303 and response.headers["Location"] == "/catalogue?type=outcome"
    # The choice beats the browser's preference, on every later page of the session.
    for path in ("/catalogue", "/", "/login"):
        html = web.get(path, headers=french_browser).get_data(as_text=True)
        assert _html_lang(html) == "nl", path
    assert "Indicatorencatalogus" in web.get("/catalogue").get_data(as_text=True)
    _choose(web, "sw", "/")
    assert _html_lang(web.get("/", headers=french_browser).get_data(as_text=True)) == "sw"


def test_the_menu_refuses_unknown_languages_foreign_targets_and_forgeries(
    web: FlaskClient,
) -> None:
    _choose(web, "it", "/")
    ignored = _choose(web, "xx", "/")  # not a language we ship: the choice stays
    assert ignored.status_code == 303
    assert _html_lang(web.get("/").get_data(as_text=True)) == "it"
    # "next" must be a path on this site (no open redirect through the menu).
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "/%2F/evil"):
        assert _choose(web, "fr", target).headers["Location"] == "/", target
    # Without the CSRF token another site cannot switch someone's language.
    forged = web.post("/language", data={"locale": "es", "next": "/"})
    assert forged.status_code == 400
    assert _html_lang(web.get("/").get_data(as_text=True)) == "fr"


# --- numbers and dates the language's way ---------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "shown"),
    [
        ("en", "1,234.50"),
        ("fr", "1\u202f234,50"),
        ("es", "1.234,50"),
        ("nl", "1.234,50"),
        ("sw", "1,234.50"),
    ],
)
def test_numbers_are_written_the_languages_way_with_their_digits(
    app: Flask, locale: str, shown: str
) -> None:
    from node.i18n import format_number

    with app.test_request_context("/", headers={"Accept-Language": locale}):
        # Exact digits kept (no rounding to Babel's default three places, "…50" stays).
        assert format_number("1234.50") == shown
        assert format_number("12.3456") in ("12.3456", "12,3456")
        assert format_number("-0.001") in ("-0.001", "-0,001")
        assert format_number("7") == "7" and format_number(7) == "7"
        assert format_number("–") == "–" and format_number(None) == ""


def test_dates_are_written_the_languages_way(app: Flask) -> None:
    from node.i18n import format_day, format_moment

    day = date(2026, 3, 9)
    moment = datetime(2026, 3, 9, 14, 5, tzinfo=UTC)
    expected = {"en": "Mar 9, 2026", "fr": "9 mars 2026", "nl": "9 mrt 2026", "it": "9 mar 2026"}
    for locale, text in expected.items():
        with app.test_request_context("/", headers={"Accept-Language": locale}):
            assert format_day(day) == text
            assert format_moment(moment) == f"{text} 14:05"
            assert format_day(None) == "–"


def test_figures_on_a_page_use_the_languages_decimal_sign(
    web: FlaskClient, official: Caller
) -> None:
    login(web, official)
    _enter(web, "fr", "12,75")
    french = web.get("/catalogue/HRC-HOU-01", headers={"Accept-Language": "fr"})
    english = web.get("/catalogue/HRC-HOU-01", headers={"Accept-Language": "en"})
    assert ">12,75<" in french.get_data(as_text=True)
    assert ">12.75<" in english.get_data(as_text=True)


# --- (d) decimal commas in forms ------------------------------------------------------------


def _enter(web: FlaskClient, locale: str, value: str) -> Any:
    headers = {"Accept-Language": locale}
    page = "/enter?indicator=HRC-HOU-01"
    html = web.get(page, headers=headers).get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert token
    data = {
        "csrf_token": token.group(1),
        "indicator": "HRC-HOU-01",
        "period": "2025",
        "value": value,
        "status": "draft",
    }
    for dim in ("SEX", "TENURE", "HOUSEHOLD_TYPE", "MIGRANT_STATUS", "DISABILITY", "DISTRICT"):
        data[f"dim_{dim}"] = "_T"
    return web.post(page, data=data, headers=headers)


def _stored_values(db: Any) -> list[str]:
    from node.models import Result

    with db() as session:
        rows = session.scalars(
            select(Result.value_text).where(Result.indicator_code == "HRC-HOU-01")
        )
        return list(rows)


@pytest.mark.parametrize("locale", ["fr", "es", "nl", "it"])
def test_a_decimal_comma_is_accepted_where_the_language_writes_one(
    web: FlaskClient, official: Caller, db: Any, locale: str
) -> None:
    login(web, official)
    response = _enter(web, locale, "18,50")
    assert response.status_code == 302, response.get_data(as_text=True)
    assert _stored_values(db) == ["18.50"]  # exact decimal text, trailing zero kept


@pytest.mark.parametrize("locale", ["en", "sw"])
def test_a_comma_is_refused_where_the_language_writes_a_point(
    web: FlaskClient, official: Caller, db: Any, locale: str
) -> None:
    login(web, official)
    for typed in ("1,234", "18,5"):
        response = _enter(web, locale, typed)
        assert response.status_code == 400
        html = response.get_data(as_text=True)
        assert 'class="error"' in html and f'value="{typed}"' in html  # shown back as typed
        assert _stored_values(db) == []
    if locale == "en":
        assert "Write decimals with a point and no thousands separator" in html
    assert _enter(web, locale, "18.5").status_code == 302
    assert _stored_values(db) == ["18.5"]


def test_a_point_that_could_group_thousands_is_refused_in_spanish(
    web: FlaskClient, official: Caller, db: Any
) -> None:
    login(web, official)
    response = _enter(web, "es", "1.234")
    assert response.status_code == 400
    assert "1.234 puede leerse como un millar o como un decimal" in response.get_data(as_text=True)
    assert _stored_values(db) == []


@pytest.mark.parametrize(
    ("typed", "locale", "expected"),
    [
        # Comma languages: the comma is the decimal sign.
        ("18,5", "fr", "18.5"),
        ("-0,25", "it", "-0.25"),
        (",5", "nl", ".5"),
        ("1,234", "fr", "1.234"),  # unambiguous in French: 1.234
        ("1,2345", "es", "1.2345"),
        # A point is read as a decimal point where it cannot be a thousands separator …
        ("18.5", "es", "18.5"),
        ("12.34", "nl", "12.34"),
        ("1234.5", "it", "1234.5"),
        ("12.3456", "es", "12.3456"),
        ("1.234", "fr", "1.234"),  # French groups with a space, never a point
        # … and point languages keep the point.
        ("18.5", "en", "18.5"),
        ("1234", "en", "1234"),
        ("18.5", "sw", "18.5"),
        # Not plain numbers: passed on unchanged for the results service to explain.
        ("abc", "fr", "abc"),
        ("1.234.567", "es", "1.234.567"),
        ("1 234,5", "fr", "1 234,5"),
        ("", "fr", ""),
    ],
)
def test_decimal_input_is_read_one_way_only(typed: str, locale: str, expected: str) -> None:
    assert normalise_decimal_input(typed, locale) == expected


@pytest.mark.parametrize(
    ("typed", "locale"),
    [
        ("1,234", "en"),  # 1234 to an English reader, 1.234 to a French one: ask
        ("18,5", "en"),
        ("1,5", "sw"),
        ("0,001", "en"),
        ("1.234", "es"),  # 1234 or 1.234 where the point groups thousands
        ("-1.000", "it"),
        ("999.999", "nl"),
    ],
)
def test_ambiguous_decimal_input_is_refused(typed: str, locale: str) -> None:
    with pytest.raises(ValueError):
        normalise_decimal_input(typed, locale)


@pytest.mark.parametrize(
    ("typed", "locale"),
    [("1.23", "es"), ("1.2345", "es"), ("1234.567", "nl")],
)
def test_a_point_is_only_ambiguous_before_exactly_three_digits(typed: str, locale: str) -> None:
    """The edges of the thousands look-alike: 2 or 4 digits after the point, or 4 before."""
    assert normalise_decimal_input(typed, locale) == typed


# --- catalogue names and definitions in the reader's language -------------------------------

TRANSLATED_LOCAL = {
    "code": "GENT-HOU-09",
    "name": "Households on the social housing waiting list",
    "definition": "Households registered and waiting on 31 December.",
    "translations": {
        "fr": {
            "name": "Ménages en attente d'un logement social",
            "definition": "Ménages inscrits et en attente au 31 décembre.",
        },
        "nl-BE": {"name": "Gezinnen op de wachtlijst voor een sociale woning"},
        "it": {"name": "<script>alert(1)</script>Famiglie in lista d'attesa"},
    },
    "right": "Adequate housing",
    "type": "outcome",
    "value_type": "number",
    "unit": {"code": "HH", "label": "households"},
    "direction": "good_down",
    "disaggregations": ["DISTRICT"],
    "core": False,
}


def test_indicator_names_and_definitions_show_in_the_readers_language(
    web: FlaskClient, official: Caller
) -> None:
    created = web.post("/api/v1/indicators", json=TRANSLATED_LOCAL, headers=official.headers)
    assert created.status_code == 201, created.get_data(as_text=True)

    def page(path: str, locale: str) -> str:
        return web.get(path, headers={"Accept-Language": locale}).get_data(as_text=True)

    french = page("/catalogue/GENT-HOU-09", "fr")
    assert "Ménages en attente d&#39;un logement social" in french
    assert "Ménages inscrits et en attente au 31 décembre." in french
    assert "Ménages en attente d&#39;un logement social" in page("/catalogue", "fr")
    # No Spanish text: the name and definition as published.
    spanish = page("/catalogue/GENT-HOU-09", "es")
    assert "Households on the social housing waiting list" in spanish
    assert "Households registered and waiting on 31 December." in spanish
    # A regional variant serves its language; a missing definition falls back on its own.
    dutch = page("/catalogue/GENT-HOU-09", "nl")
    assert "Gezinnen op de wachtlijst voor een sociale woning" in dutch
    assert "Households registered and waiting on 31 December." in dutch
    # Translations come from catalogue releases and other cities' definitions: plain text,
    # escaped like any other data.
    italian = page("/catalogue", "it")
    assert "<script>alert(1)</script>" not in italian
    assert "&lt;script&gt;alert(1)&lt;/script&gt;Famiglie" in italian
