"""Disaggregation keys: which breakdown (dimension → code) a figure belongs to.

An empty mapping is the total. ``_T`` ("total") on a dimension is the same as leaving that
dimension out, so ``{"SEX": "_T"}`` and ``{}`` name the same figure; the canonical key makes that
one string, ``""``, and stores it in a unique constraint.
"""

from __future__ import annotations

from collections.abc import Mapping

from node.refusals import Items, Problem

TOTAL_CODE = "_T"
KEY_SEPARATOR = "|"


def normalize(disaggregation: Mapping[str, str]) -> dict[str, str]:
    """Drop ``_T`` entries and sort by dimension: the one spelling of a breakdown."""
    return {
        dim: disaggregation[dim]
        for dim in sorted(disaggregation)
        if disaggregation[dim] != TOTAL_CODE
    }


def disaggregation_key(disaggregation: Mapping[str, str]) -> str:
    """``{"SEX": "F", "AGE_GROUP": "Y_LT18"}`` → ``"AGE_GROUP=Y_LT18|SEX=F"``; total → ``""``."""
    return KEY_SEPARATOR.join(f"{dim}={code}" for dim, code in normalize(disaggregation).items())


def parse_key(key: str) -> dict[str, str]:
    """Inverse of :func:`disaggregation_key`."""
    if not key:
        return {}
    return dict(part.split("=", 1) for part in key.split(KEY_SEPARATOR))


def check_against(
    disaggregation: Mapping[str, str],
    allowed_dimensions: list[str],
    known_codes: Mapping[str, set[str]],
) -> dict[str, list[str]]:
    """Field errors for a breakdown an indicator does not allow; empty when it is fine."""
    errors: dict[str, list[str]] = {}
    # Each message is a Problem (an English str, as the API sends it, carrying its variant and
    # values) so that a page words it in its reader's language (node.refusals).
    for dim, code in disaggregation.items():
        if not isinstance(dim, str) or not isinstance(code, str):
            errors[str(dim)] = [
                Problem("dimension and code must be strings", variant="breakdown_not_text")
            ]
        elif dim not in allowed_dimensions:
            allowed = Items.of(allowed_dimensions)
            errors[dim] = [
                Problem(
                    f"not a dimension of this indicator (allowed: {allowed or 'none'})",
                    params={"dimension": dim[:40], "allowed": allowed},
                    variant="unknown_dimension"
                    if allowed_dimensions
                    else "unknown_dimension_none_allowed",
                )
            ]
        elif code != TOTAL_CODE and code not in known_codes.get(dim, set()):
            # The first twelve, as the API has always quoted them (no count of the rest).
            sample = Items(tuple(sorted(known_codes.get(dim, set()))[:12]))
            errors[dim] = [
                Problem(
                    f"unknown code '{code[:40]}' (known: {sample or 'none yet'})",
                    params={"code": code[:40], "dimension": dim, "known": sample},
                    variant="unknown_breakdown_code"
                    if sample
                    else "unknown_breakdown_code_none_yet",
                )
            ]
    return errors
