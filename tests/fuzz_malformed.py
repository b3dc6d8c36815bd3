"""Malformed requests: bodies, headers, methods, paths and signatures no SDK would send.

Deep nesting, bodies near and over the size limit, JSON of the wrong top-level type, invalid JSON,
NUL bytes, wrong or missing content types, odd methods and paths, unknown targets, and requests
signed wrongly or not at all. Each case keeps an operation's address, so the server routes it as
far as it can before refusing it.
"""

from __future__ import annotations

from collections.abc import Callable

import hypothesis.strategies as st
from fuzz_cases import Case, Operation, World, json_body
from fuzz_shapes import valid

from openpersonalize.api.app import MAX_BODY_BYTES

NESTING_DEPTHS = [64, 500, 1000, 1023, 1024, 1025, 5000, 100_000]
HUGE_SIZES = [100_000, 1_000_000, MAX_BODY_BYTES - 1024, MAX_BODY_BYTES + 1]
# Fillers of huge strings: plain, colon runs (the ARN pattern's separator), multi-byte, escapes.
HUGE_FILLERS = ["a", ":", "é", "\\u0000", "arn:aws:personalize:"]
TOP_LEVEL = [b"[]", b'"text"', b"1", b"null", b"true", b"[{}]", b"1e999", b'"' + b"x" * 100 + b'"']
INVALID_JSON = [
    b"{",
    b"}",
    b"{'name': 'x'}",
    b'{"name": "x",}',
    b'{"name": "x"} trailing',
    b'{"name": NaN}',
    b'{"name": Infinity}',
    b'{"a" 1}',
    b'{"a":1}{"b":2}',
    b"\xff\xfe{\x00}\x00",
    b"\xef\xbb\xbf{}",
    b'{"name": "\\ud800"}',
    b'{"name": "\xc3\x28"}',
    b'{"name": "\\x41"}',
    b"{" + b'"a":1,' * 10_000 + b'"a":2}',
    b'{"name": 1' + b"0" * 5000 + b"}",
]
CONTENT_TYPES = [
    None,
    "",
    "text/plain",
    "application/xml",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/json; charset=utf-16",
    "application/x-amz-json-1.0",
    "application/" + "x" * 4000,
]
METHODS = ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]
PATHS = [
    "/nope",
    "/recommendations/",
    "//recommendations",
    "/events/../recommendations",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/%00",
    "/RECOMMENDATIONS",
    "/" + "a" * 8000,
]
# Routed addresses with a query string, which no Personalize operation reads: any answer under 500.
QUERIES = ["/?" + "q=1&" * 500, "/recommendations?x=1", "/events?%00=%ff"]
TARGETS = [
    "",
    "AmazonPersonalize.",
    "AmazonPersonalize.NoSuchOperation",
    "AmazonPersonalize.createdatasetgroup",
    "AmazonPersonalizeRuntime.GetRecommendations",
    "DynamoDB_20120810.ListTables",
    "AmazonPersonalize." + "A" * 5000,
]
CLIENT_ERROR, FORBIDDEN = range(400, 500), range(403, 404)
# Headers the server acts on, so the signature must cover them (it ignores Content-Type).
SIGNED_HEADERS = {"X-Amz-Target"}
# Signing faults, each answered 403 whatever the request.
BAD_AUTH = ["unsigned", "unknown key", "wrong secret", "body changed after signing", "expired", "garbled"]

# Every way a malformed request is broken (one per request).
FAULTS = [
    "deep nesting",
    "huge string",
    "top-level type",
    "invalid json",
    "nul bytes",
    "content type",
    "method",
    "path",
    "query",
    "target",
    "unsigned header",
    "bad auth",
]


def _nested(depth: int, opener: str) -> bytes:
    closer = "]" if opener == "[" else "}"
    inner = '{"a":' if opener == "{" else "["
    return (inner * depth + "1" + closer * depth).encode()


def _first_string_member(op: Operation) -> str:
    strings = [n for n, m in op.model.input_shape.members.items() if m.type_name == "string"]
    return strings[0] if strings else "name"


@st.composite
def malformed_case(draw: Callable, op: Operation, world: World) -> Case:
    """A request to ``op``'s address, broken in one way."""
    headers, method, path = op.headers(), op.model.http["method"], op.path
    member = _first_string_member(op)
    fault = draw(st.sampled_from(FAULTS))
    real = valid(op.model.input_shape, world.for_operation(op), sparse=True)  # it would succeed if sent right
    body = b"{}"
    auth, expect = "signed", range(100, 500)
    if fault == "deep nesting":
        depth, opener = draw(st.sampled_from(NESTING_DEPTHS)), draw(st.sampled_from("[{"))
        nested = _nested(depth, opener)
        body = draw(st.sampled_from([nested, b'{"%s": %s}' % (member.encode(), nested)]))
        what = f"nesting {depth} deep ({opener})"
    elif fault == "huge string":
        size, filler = draw(st.sampled_from(HUGE_SIZES)), draw(st.sampled_from(HUGE_FILLERS))
        ending = draw(st.sampled_from([b"", b"\\n"]))  # "." cannot match it: a pattern fails at the very end
        unit = filler.encode()
        text = unit * ((size - len(member) - 10) // len(unit)) + ending
        body = b'{"%s": "%s"}' % (member.encode(), text)
        what = f"{len(body)}-byte body, {member} of {filler!r} ending {ending!r}"
    elif fault == "top-level type":
        body = draw(st.sampled_from(TOP_LEVEL))
        what = f"top-level {body[:20]!r}"
    elif fault == "invalid json":
        body = draw(st.sampled_from(INVALID_JSON))
        what = f"invalid JSON {body[:30]!r}"
    elif fault == "nul bytes":
        value = draw(real)
        raw = json_body(value)
        nuls = [raw.replace(b'"', b'"\x00', 1), raw + b"\x00", b"\x00" + raw, raw.replace(b'"', b'"\\u0000', 1)]
        body = draw(st.sampled_from(nuls))
        what = "NUL byte in body"
    elif fault == "content type":
        body = json_body(draw(real))
        content_type = draw(st.sampled_from(CONTENT_TYPES))
        headers.pop("Content-Type")
        if content_type is not None:
            headers["Content-Type"] = content_type
        what = f"content type {content_type!r:.40}"
    elif fault == "method":
        method = draw(st.sampled_from(METHODS))
        what = f"method {method}"
        expect = CLIENT_ERROR
    elif fault == "path":
        path = draw(st.sampled_from(PATHS))
        what = f"path {path[:40]}"
        expect = CLIENT_ERROR
    elif fault == "query":
        path = draw(st.sampled_from(QUERIES))
        body = json_body(draw(real))
        what = f"query {path[:40]}"
    elif fault == "target":
        target = draw(st.sampled_from(TARGETS))
        headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target}
        path, what, expect = "/", f"target {target[:40]!r}", CLIENT_ERROR
    elif fault == "unsigned header":
        body = json_body(draw(real))
        header = draw(st.sampled_from(sorted(headers)))
        auth = f"unsigned header {header}"
        what = auth
        expect = FORBIDDEN if header in SIGNED_HEADERS else expect
    else:
        body = json_body(draw(real))
        auth = draw(st.sampled_from(BAD_AUTH))
        what, expect = f"auth {auth}", FORBIDDEN
    return Case("malformed", f"{fault}: {what}", op, method, path, headers, body, auth, expect)
