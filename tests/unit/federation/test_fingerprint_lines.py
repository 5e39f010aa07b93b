"""A fingerprint shown for two people to read aloud: a faithful encoding of the whole digest."""

from __future__ import annotations

import hashlib

import pytest

from federation.keys import b64decode_unpadded, fingerprint_display, fingerprint_lines
from node.network.trust import normalise_fingerprint

# docs/protocol.md §4.2 / appendix: the key of be-gent (seed 000102…1f) and its fingerprint.
GENT_KEY = "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg"
GENT_FINGERPRINT = "56475aa75463474c0285df5dbf2bcab73da651358839e9b77481b2eab107708c"


def test_the_protocol_example_reads_as_four_lines_of_four_groups() -> None:
    # Written out by hand from the protocol's example, not from the function.
    assert fingerprint_lines(GENT_FINGERPRINT) == [
        "5647 5aa7 5463 474c",
        "0285 df5d bf2b cab7",
        "3da6 5135 8839 e9b7",
        "7481 b2ea b107 708c",
    ]
    assert hashlib.sha256(b64decode_unpadded(GENT_KEY)).hexdigest() == GENT_FINGERPRINT


@pytest.mark.parametrize("seed", range(40))
def test_the_lines_are_the_whole_fingerprint_in_order(seed: int) -> None:
    digest = hashlib.sha256(bytes([seed]) * 32).hexdigest()
    lines = fingerprint_lines(digest)
    assert len(lines) == 4 and all(len(line.split(" ")) == 4 for line in lines)
    assert all(len(group) == 4 for line in lines for group in line.split(" "))
    # Faithful: nothing cut, nothing added, nothing reordered.
    assert "".join(lines).replace(" ", "") == digest


def test_what_is_read_aloud_is_what_the_pin_form_accepts() -> None:
    # The listener types the lines as heard (spaces, line breaks): the pin form's reading of
    # them is the full fingerprint the node compares against.
    typed = "\n".join(fingerprint_lines(GENT_FINGERPRINT)).upper()
    assert normalise_fingerprint(typed) == GENT_FINGERPRINT


def test_the_display_form_of_the_api_reads_the_same() -> None:
    raw = b64decode_unpadded(GENT_KEY)
    assert fingerprint_lines(fingerprint_display(raw)) == fingerprint_lines(GENT_FINGERPRINT)


@pytest.mark.parametrize(
    "text",
    [
        GENT_FINGERPRINT[:-1],  # 63 digits: one missing
        GENT_FINGERPRINT + "0",  # 65 digits
        GENT_FINGERPRINT[:16],  # a prefix must never be shown as the whole fingerprint
        GENT_FINGERPRINT[:-1] + "g",  # not hex
        "",
    ],
)
def test_anything_but_a_full_fingerprint_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        fingerprint_lines(text)
