"""botocore's string patterns, compiled for RE2: matching time is linear in the input, whatever it is.

Python's ``re`` backtracks: ``arn:([a-z\\d-]+):personalize:.*:.*:.+`` takes cubic time on a string of
colons, so one request could hold a process for seconds. RE2 never backtracks. The AWS models are
written for Java's regex engine; the two Java spellings they use that RE2 lacks are rewritten here,
and any other construct RE2 refuses raises :class:`UnsupportedPatternError` (a test compiles every
pattern of the three Personalize models).
"""

from __future__ import annotations

import re
from functools import cache

import re2

# RE2's largest counted repetition ({n,m} with m above it does not compile).
RE2_MAX_REPEAT = 1000
# Java character classes the models use, in RE2's spelling.
_JAVA_CLASSES = {r"\p{ASCII}": r"[\x00-\x7F]"}
_COUNTED = re.compile(r"\{(\d+),(\d+)\}")


class UnsupportedPatternError(ValueError):
    """A model pattern RE2 cannot express."""


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False
    return options


def _drop_unreachable_bounds(pattern: str, max_length: int | None) -> str:
    """``X{m,n}`` with n past RE2's limit becomes ``X{m,}`` when strings are at most ``max_length <= n`` long.

    Strings are checked against the shape's length bounds before its pattern, and a string of at most
    n characters cannot hold more than n non-empty repetitions, so the two match the same strings.
    """

    def rewrite(match: re.Match[str]) -> str:
        low, high = int(match.group(1)), int(match.group(2))
        if high <= RE2_MAX_REPEAT:
            return match.group(0)
        if max_length is None or max_length > high:
            raise UnsupportedPatternError(f"{pattern!r}: repetition {match.group(0)} exceeds RE2's limit")
        return f"{{{low},}}"

    return _COUNTED.sub(rewrite, pattern)


@cache
def compile_pattern(pattern: str, max_length: int | None) -> re2._Regexp:
    """The RE2 form of a model ``pattern`` for strings of at most ``max_length`` characters."""
    translated = pattern
    for java, spelled in _JAVA_CLASSES.items():
        translated = translated.replace(java, spelled)
    translated = _drop_unreachable_bounds(translated, max_length)
    try:
        return re2.compile(translated, _options())
    except re2.error as exc:
        raise UnsupportedPatternError(f"{pattern!r}: {exc}") from None
