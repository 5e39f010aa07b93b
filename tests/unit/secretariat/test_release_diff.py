"""The diff of a draft catalogue against the last published release, field by field, on a
catalogue small enough to work out by hand."""

from __future__ import annotations

from typing import Any

from node.secretariat.releases import field_diff


def _indicator(code: str, **fields: Any) -> dict[str, Any]:
    base = {
        "code": code,
        "name": f"Indicator {code}",
        "right": "Adequate housing",
        "type": "outcome",
        "value_type": "percent",
        "unit": {"code": "PCT", "label": "%"},
        "direction": "good_down",
        "disaggregations": ["SEX"],
    }
    return {**base, **fields}


BASE = {
    "version": "1.0.0",
    "indicators": [_indicator("A-1"), _indicator("B-2"), _indicator("C-3"), _indicator("D-4")],
}


def test_the_diff_worked_out_by_hand() -> None:
    draft = {
        "version": "1.1.0",
        "indicators": [
            _indicator("A-1"),  # unchanged
            _indicator("B-2", name="Renamed", disaggregations=["SEX", "AGE"]),
            _indicator("D-4", definition="Now defined"),  # a field the base did not have
            _indicator("E-5"),  # new
        ],  # C-3 is gone: retired
    }
    assert field_diff(BASE, draft) == {
        "added": [{"code": "E-5", "name": "Indicator E-5"}],
        "retired": [{"code": "C-3", "name": "Indicator C-3"}],
        "changed": [
            {
                "code": "B-2",
                "name": "Renamed",
                "fields": [
                    {"field": "disaggregations", "old": ["SEX"], "new": ["SEX", "AGE"]},
                    {"field": "name", "old": "Indicator B-2", "new": "Renamed"},
                ],
            },
            {
                "code": "D-4",
                "name": "Indicator D-4",
                "fields": [{"field": "definition", "old": None, "new": "Now defined"}],
            },
        ],
    }


def test_the_same_catalogue_changes_nothing_and_nothing_published_adds_everything() -> None:
    assert field_diff(BASE, dict(BASE, version="1.0.1")) == {
        "added": [],
        "retired": [],
        "changed": [],
    }
    everything = field_diff(None, BASE)
    assert [i["code"] for i in everything["added"]] == ["A-1", "B-2", "C-3", "D-4"]
    assert everything["retired"] == [] and everything["changed"] == []


def test_a_unit_change_inside_an_object_is_one_changed_field() -> None:
    draft = {"indicators": [_indicator("A-1", unit={"code": "PCT", "label": "per cent"})]}
    [change] = field_diff({"indicators": [_indicator("A-1")]}, draft)["changed"]
    assert change["fields"] == [
        {
            "field": "unit",
            "old": {"code": "PCT", "label": "%"},
            "new": {"code": "PCT", "label": "per cent"},
        }
    ]


def test_compared_with_the_tables_only_the_fields_the_draft_states_count() -> None:
    # Before any release the base is rebuilt from the node's tables, which hold more fields
    # (catalogue_version, retired_in...) than a file: those must not show as changes.
    tables = {"indicators": [_indicator("A-1", catalogue_version="0.1.0", retired_in=None)]}
    draft = {"indicators": [_indicator("A-1", name="New name")]}
    [change] = field_diff(tables, draft, draft_fields_only=True)["changed"]
    assert [f["field"] for f in change["fields"]] == ["name"]
    assert (
        field_diff(tables, {"indicators": [_indicator("A-1")]}, draft_fields_only=True)["changed"]
        == []
    )


def test_hostile_entries_without_a_code_are_ignored_not_crashed_on() -> None:
    draft = {"indicators": [_indicator("A-1"), "not an object", {"name": "no code"}, {"code": 7}]}
    assert field_diff({"indicators": [_indicator("A-1")]}, draft) == {
        "added": [],
        "retired": [],
        "changed": [],
    }
