"""What every server-rendered SVG chart must be, checked the same way by every chart test."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert("x")</script> & \'quotes\' "too"'
NUMERIC = ("x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "r", "width", "height")


def parse(svg: str) -> ET.Element:
    """Parse, then check what every chart must have: accessible name, no script, viewBox,
    no style or event attributes, only finite coordinates."""
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    assert root.get("width") == "100%"
    assert re.fullmatch(r"0 0 \d+ \d+", root.get("viewBox", ""))
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None and desc is not None and title.text and desc.text
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    for element in root.iter():
        assert element.tag != f"{SVG}script"
        assert not any(name.lower().startswith("on") for name in element.attrib)
        assert "style" not in element.attrib
        for name, value in element.attrib.items():
            if element is not root and name in NUMERIC:
                assert math.isfinite(float(value)), (element.tag, name, value)
            if name == "d":
                assert "nan" not in value.lower() and "inf" not in value.lower()
    return root


def texts(root: ET.Element) -> list[str]:
    """The visible texts of a chart, in document order."""
    return [e.text or "" for e in root.iter(f"{SVG}text")]


def desc_of(root: ET.Element) -> str:
    """The chart's description (what a screen reader says after its name)."""
    desc = root.find(f"{SVG}desc")
    assert desc is not None and desc.text is not None
    return desc.text
