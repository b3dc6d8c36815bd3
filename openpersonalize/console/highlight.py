"""Filter expressions as highlighted HTML: keywords, dataset fields, strings and $PARAMETERS, the error spot marked."""

from __future__ import annotations

import re

from markupsafe import Markup, escape

# One pass, no backtracking beyond a token: every alternative is a bounded or possessive-like run.
_TOKEN = re.compile(
    r'(?P<str>"[^"\n]{0,2500}"?)'
    r"|(?P<param>\$[A-Za-z0-9_]{1,60})"
    r"|(?P<field>\b(?:Items|Interactions|Users|CurrentItem)\.[A-Za-z0-9_]{1,150})"
    r"|(?P<kw>\b(?:INCLUDE|EXCLUDE|ItemID|WHERE|IN|NOT|AND|OR|IF|\|)\b)"
)


def highlight(expression: str, error_at: int | None = None) -> Markup:
    """``expression`` as spans for pre.expr; the character at ``error_at`` (0-based) marked as the error."""
    out: list[str] = []
    pos = 0
    for match in _TOKEN.finditer(expression):
        out.append(_plain(expression, pos, match.start(), error_at))
        kind = match.lastgroup or ""
        if error_at is not None and match.start() <= error_at < match.end():
            out.append(_plain(expression, match.start(), match.end(), error_at))
        else:
            out.append(f'<span class="{kind}">{escape(match.group())}</span>')
        pos = match.end()
    out.append(_plain(expression, pos, len(expression), error_at))
    if error_at is not None and error_at >= len(expression):
        out.append('<span class="bad" title="here">&nbsp;</span>')
    return Markup("".join(out))


def _plain(text: str, start: int, end: int, error_at: int | None) -> str:
    if error_at is None or not start <= error_at < end:
        return str(escape(text[start:end]))
    return (
        str(escape(text[start:error_at]))
        + f'<span class="bad" title="here">{escape(text[error_at])}</span>'
        + str(escape(text[error_at + 1 : end]))
    )
