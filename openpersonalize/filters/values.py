"""Binding ``$PARAM`` placeholders from a request's ``filterValues``.

Personalize passes each parameter's values as one string: string values each in double
quotes, separated by commas (``"\\"comedy\\",\\"drama\\""`` on the wire, i.e. the text
``"comedy","drama"``); a numeric value plainly (``"10"``). Unquoted non-numeric tokens are
accepted as strings.
"""

from __future__ import annotations

import math
import re

from openpersonalize.filters.model import FilterExpr

MAX_VALUES_PER_PARAMETER = 10
"""Most values one placeholder parameter may carry."""
MAX_FILTER_VALUES = 25
"""Most keys in ``filterValues`` (GetRecommendations service model)."""
MAX_FILTER_VALUE_LENGTH = 1000
"""Longest ``filterValues`` value (GetRecommendations service model)."""

ParamValue = str | float

_TOKEN = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|([^,"]*?))\s*(,|$)')
_NUMBER = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")


class FilterValueError(ValueError):
    """A ``filterValues`` entry is missing or malformed (becomes InvalidInputException)."""


def parse_parameter_value(name: str, raw: str) -> tuple[ParamValue, ...]:
    """Split one ``filterValues`` value into its strings (quoted) and numbers (unquoted)."""
    if not isinstance(raw, str):
        raise FilterValueError(f"filterValues[{name!r}] must be a string")
    if len(raw) > MAX_FILTER_VALUE_LENGTH:
        raise FilterValueError(f"filterValues[{name!r}] is longer than {MAX_FILTER_VALUE_LENGTH} characters")
    values: list[ParamValue] = []
    pos = 0
    text = raw.strip()
    if not text:
        raise FilterValueError(f"filterValues[{name!r}] is empty")
    while pos <= len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos and pos < len(text):
            raise FilterValueError(
                f"filterValues[{name!r}] is malformed near character {pos + 1}: "
                'give strings as "\\"value\\"" separated by commas'
            )
        quoted, bare, sep = match.groups()
        if quoted is not None:
            values.append(re.sub(r"\\(.)", r"\1", quoted))
        else:
            token = (bare or "").strip()
            if not token:
                raise FilterValueError(f"filterValues[{name!r}] has an empty value")
            if _NUMBER.fullmatch(token):
                number = float(token)
                if not math.isfinite(number):
                    raise FilterValueError(f"filterValues[{name!r}] has a non-finite number")
                values.append(number)
            else:
                values.append(token)
        pos = match.end()
        if not sep:
            break
    if len(values) > MAX_VALUES_PER_PARAMETER:
        raise FilterValueError(
            f"filterValues[{name!r}] has {len(values)} values; the maximum is {MAX_VALUES_PER_PARAMETER}"
        )
    return tuple(values)


def bind_parameters(expr: FilterExpr, filter_values: dict[str, str] | None) -> dict[str, tuple[ParamValue, ...]]:
    """Parse the values of every parameter ``expr`` uses; check required ones are present.

    INCLUDE expressions need every parameter they use; an EXCLUDE expression whose
    parameter is missing is skipped by the compiler. Unknown keys are ignored.
    """
    filter_values = filter_values or {}
    if len(filter_values) > MAX_FILTER_VALUES:
        raise FilterValueError(f"filterValues can have at most {MAX_FILTER_VALUES} entries")
    missing = sorted(p for p in expr.required_parameters if p not in filter_values)
    if missing:
        raise FilterValueError(
            "filterValues is missing a value for the filter parameter"
            + ("s " if len(missing) > 1 else " ")
            + ", ".join("$" + m for m in missing)
        )
    return {
        name: parse_parameter_value(name, filter_values[name])
        for name in sorted(expr.parameters)
        if name in filter_values
    }
