"""Which passwords a node accepts: long enough, not common, not a trivial pattern.

Every place that sets a password (``hrcnet user add``, ``hrcnet user passwd``, the "change
password" page) goes through :func:`password_problems`, so the rule is written once.

Why these rules: a node's accounts publish and validate a city's official figures, and the login
page faces the Internet. Length alone is not enough (``aaaaaaaaaaaa`` and ``password1234`` are
12 characters); the list of the most common passwords is what attackers try first, and the
trivial patterns (one repeated character, a keyboard or alphabet run, the user's own e-mail or
the city's name) are what people use to pass a length rule.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterable
from functools import cache
from importlib import resources

from node.refusals import Problem

MIN_PASSWORD_LENGTH = 12
# scrypt's cost does not depend much on the input length, but a megabyte "password" is never
# typed by a person: refuse it before hashing.
MAX_PASSWORD_LENGTH = 1000
# Personal or local words shorter than this are too likely to appear by chance in a good
# passphrase ("ana" in "banana") to be worth removing.
MIN_PERSONAL_WORD = 3

# Runs people type as "random": alphabet, digits, keyboard rows (doubled so a run may wrap).
_SEQUENCES = (
    "abcdefghijklmnopqrstuvwxyz" * 2,
    "0123456789" * 3,
    "qwertyuiopasdfghjklzxcvbnm" * 2,
    "qwertzuiopasdfghjklyxcvbnm" * 2,
    "azertyuiopqsdfghjklmwxcvbn" * 2,
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p" * 2,
)
_TRAILING_DECORATION = re.compile(r"[\d\W_]+$")
_LEADING_DECORATION = re.compile(r"^[\d\W_]+")


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords (lower-cased), read once per process."""
    data = resources.files("node").joinpath("data/common_passwords.txt.gz").read_bytes()
    lines = gzip.decompress(data).decode("utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def _is_run(text: str) -> bool:
    """True when ``text`` is a run of neighbouring characters (abcd…, 9876…, qwerty…)."""
    if len(text) < 2:
        return True
    steps = {ord(b) - ord(a) for a, b in zip(text, text[1:], strict=False)}
    if steps in ({1}, {-1}, {0}):
        return True
    return any(text in sequence or text in sequence[::-1] for sequence in _SEQUENCES)


def _is_repetition_of_short_unit(text: str) -> bool:
    """True when ``text`` is a shorter piece repeated (``abcabcabcabc``, ``passpasspass``)."""
    match = re.fullmatch(r"(.+?)\1+", text, flags=re.DOTALL)
    return match is not None and len(match.group(1)) < MIN_PASSWORD_LENGTH


def _is_common(text: str) -> bool:
    words = common_passwords()
    squeezed = re.sub(r"\s+", "", text)
    candidates = {text, squeezed}
    # "Password2024!" and "!!sunshine!!": a common word dressed with digits and symbols.
    for candidate in list(candidates):
        core = _LEADING_DECORATION.sub("", _TRAILING_DECORATION.sub("", candidate))
        if core:
            candidates.add(core)
    return any(candidate in words for candidate in candidates)


def _personal_words(email: str, city_words: Iterable[str]) -> list[str]:
    email = email.strip().lower()
    local, _, domain = email.partition("@")
    words = {local, domain, *domain.split("."), *re.split(r"[._+\-]", local)}
    for word in city_words:
        word = word.strip().lower()
        words.add(word)
        words.update(re.split(r"[\s\-_.']+", word))
    return sorted((w for w in words if len(w) >= MIN_PERSONAL_WORD), key=len, reverse=True)


def _problem(message: str, variant: str) -> Problem:
    """A password rule's message: English (the API's), with what a page needs to translate it."""
    return Problem(
        message,
        "weak_password",
        params={"min": MIN_PASSWORD_LENGTH, "max": MAX_PASSWORD_LENGTH},
        variant=variant,
    )


def password_problems(password: str, *, email: str, city_words: Iterable[str] = ()) -> list[str]:
    """Why ``password`` is refused for the account ``email`` (empty list: accepted).

    ``city_words`` are the node's city id and name: a city's name is the first guess against
    its node. The messages are for people: they say what to do, never echo the password.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        return [_problem(f"at least {MIN_PASSWORD_LENGTH} characters", "too_short")]
    if len(password) > MAX_PASSWORD_LENGTH:
        return [_problem(f"at most {MAX_PASSWORD_LENGTH} characters", "too_long")]
    lowered = password.lower()
    email_lowered = email.strip().lower()
    if email_lowered and email_lowered in lowered:
        return [_problem("must not contain your e-mail address", "contains_email")]
    squeezed = re.sub(r"\s+", "", lowered)
    if len(set(lowered)) == 1 or any(map(_is_repetition_of_short_unit, (lowered, squeezed))):
        return [_problem("must not be one character or a short piece repeated", "repeated")]
    if _is_run(squeezed):
        return [_problem("must not be a sequence such as abcdef…, 123456… or qwerty…", "sequence")]
    if _is_common(lowered):
        return [
            _problem("is one of the most common passwords; choose a longer passphrase", "common")
        ]
    # The e-mail's parts and the city's name do not count towards the length: an attacker
    # tries them first, so "Gent2024!!!!" is no stronger than "2024!!!!".
    remainder = lowered
    for word in _personal_words(email, city_words):
        remainder = remainder.replace(word, "")
    if len(remainder) < MIN_PASSWORD_LENGTH:
        return [
            _problem(
                f"without your name, e-mail or the city's name it must still have at least "
                f"{MIN_PASSWORD_LENGTH} characters",
                "short_without_names",
            )
        ]
    stripped = re.sub(r"\s+", "", remainder)
    if len(set(stripped)) <= 1 or _is_run(stripped) or _is_common(remainder.strip()):
        return [
            _problem("is the city's name or your name with a trivial addition", "names_trivial")
        ]
    return []
