"""Hostile clients against a real server: tampered signatures, slow and bloated requests, ReDoS, deep nesting.

Each test replays an attack an outside probe ran (raw sockets or http.client with botocore-signed
requests, where boto3 would refuse to send it) and checks the server answers with an AWS error,
closes what it must, and keeps serving everyone else. The server runs with ``--read-timeout 1`` so
the deadlines it enforces pass quickly; no test asserts how long anything took.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import time
from pathlib import Path

import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from helpers import own_server
from openpersonalize.api.app import MAX_BODY_BYTES, PersonalizeApp
from openpersonalize.api.patterns import compile_pattern
from openpersonalize.api.transport import MAX_HEADER_BYTES
from openpersonalize.api.uploads import DEFAULT_BUDGET_BYTES, DEFAULT_PEER_BYTES
from openpersonalize.data import movielens
from server_harness import ACCESS_KEY, REGION, SECRET_KEY, unique

WAIT = 60  # seconds a test waits for the server before calling it stuck (far above the 1 s deadlines)
JSON_TYPE = {"Content-Type": "application/x-amz-json-1.1"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with own_server(tmp_path_factory.mktemp("hostile"), "--read-timeout", "1") as srv:
        yield srv


@pytest.fixture(scope="module")
def personalize(server):
    return server.client("personalize")


@pytest.fixture(scope="module")
def group(personalize):
    return personalize.create_dataset_group(name=unique("hostile"))["datasetGroupArn"]


class _Signer(SigV4Auth):
    """botocore's signer, leaving the named headers out of SignedHeaders (as a careless client might)."""

    def __init__(self, unsigned: tuple[str, ...], service: str) -> None:
        super().__init__(Credentials(ACCESS_KEY, SECRET_KEY), service, REGION)
        self.unsigned = unsigned

    def headers_to_sign(self, request):
        headers = super().headers_to_sign(request)
        for name in self.unsigned:
            del headers[name]
        return headers


def _signed(server, path: str, body: bytes, headers: dict[str, str], unsigned=(), service="personalize"):
    request = AWSRequest(method="POST", url=server.url + path, data=body, headers=headers)
    _Signer(tuple(unsigned), service).add_auth(request)
    return dict(request.headers.items())


def _post(server, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=WAIT)
    try:
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        payload = resp.read()
        return resp.status, json.loads(payload or b"{}"), {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


def _control(server, target: str, body: bytes) -> tuple[int, dict, dict]:
    headers = _signed(server, "/", body, {**JSON_TYPE, "X-Amz-Target": f"AmazonPersonalize.{target}"})
    return _post(server, "/", body, headers)


def _connect(server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)
    return sock


def _head(server, path: str, length: int, extra: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{server.port}", f"Content-Length: {length}"]
    lines += [f"{k}: {v}" for k, v in extra.items() if k.lower() not in ("host", "content-length")]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _response(sock: socket.socket) -> tuple[int, dict, dict]:
    resp = http.client.HTTPResponse(sock)
    resp.begin()
    return resp.status, json.loads(resp.read() or b"{}"), {k.lower(): v for k, v in resp.getheaders()}


def _closed_by_server(sock: socket.socket) -> bool:
    """True once the server closes the connection (read until EOF or reset; a stuck server times out)."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    return True


def _rss_bytes(server) -> int:
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


# -- 1. every header the server acts on must be signed ---------------------------------------------


def test_replayed_request_with_an_unsigned_target_is_refused(server, personalize, group):
    """The probe signed a request without X-Amz-Target and replayed it as DeleteDatasetGroup."""
    body = json.dumps({"datasetGroupArn": group}).encode()
    headers = _signed(server, "/", body, JSON_TYPE)
    headers["X-Amz-Target"] = "AmazonPersonalize.DeleteDatasetGroup"
    status, payload, _ = _post(server, "/", body, headers)
    assert status == 403 and payload["__type"] == "InvalidSignatureException"
    assert "'X-Amz-Target' must be a 'SignedHeader'" in payload["message"]
    assert personalize.describe_dataset_group(datasetGroupArn=group)["datasetGroup"]["status"] == "ACTIVE"


def test_host_must_be_signed(server):
    body = b"{}"
    target = {**JSON_TYPE, "X-Amz-Target": "AmazonPersonalize.ListDatasetGroups"}
    status, payload, _ = _post(server, "/", body, _signed(server, "/", body, target, unsigned=["host"]))
    assert status == 403 and payload["__type"] == "InvalidSignatureException"
    assert "'Host' or ':authority' must be a 'SignedHeader'" in payload["message"]


def test_unsigned_payload_cannot_carry_another_body(server, group):
    """x-amz-content-sha256 stands for the body in the signature; it must be the body's hash."""
    target = {**JSON_TYPE, "X-Amz-Target": "AmazonPersonalize.DescribeDatasetGroup"}
    headers = _signed(server, "/", b"{}", {**target, "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    status, payload, _ = _post(server, "/", json.dumps({"datasetGroupArn": group}).encode(), headers)
    assert status == 403 and payload["__type"] == "InvalidSignatureException"
    assert "x-amz-content-sha256" in payload["message"]


# -- 2. no backtracking pattern, no pattern past a shape's length ----------------------------------


def test_every_model_pattern_compiles_for_re2():
    session = botocore.session.get_session()
    patterns = set()
    for service in ("personalize", "personalize-runtime", "personalize-events"):
        model = session.get_service_model(service)
        for name in model.shape_names:
            shape = model.shape_for(name)
            if shape.metadata.get("pattern"):
                patterns.add((shape.metadata["pattern"], shape.metadata.get("max")))
    assert patterns
    for pattern, max_length in patterns:
        compile_pattern(pattern, max_length)  # raises UnsupportedPatternError otherwise
    ascii_token = compile_pattern(r"\p{ASCII}{0,1500}", 1500)
    assert ascii_token.fullmatch("abc=") and not ascii_token.fullmatch("é")


def test_redos_arn_is_refused_by_length_and_linear_pattern(server):
    """The probe's 2.5 kB ARN froze the server for 12.7 s (cubic backtracking on the event loop)."""
    runtime_body = {"campaignArn": "arn:a:personalize:" + ":" * 2500 + "\n", "userId": "u"}
    body = json.dumps(runtime_body).encode()
    headers = _signed(server, "/recommendations", body, {"Content-Type": "application/json"}, service="personalize")
    status, payload, _ = _post(server, "/recommendations", body, headers)
    assert status == 400 and payload["__type"] == "InvalidInputException"
    assert "length less than or equal to 256" in payload["message"]
    assert "regular expression" not in payload["message"]  # no pattern runs past the shape's length
    within = {"campaignArn": "arn:a:personalize:" + ":" * 230 + "\n", "userId": "u"}
    body = json.dumps(within).encode()
    headers = _signed(server, "/recommendations", body, {"Content-Type": "application/json"})
    status, payload, _ = _post(server, "/recommendations", body, headers)
    assert status == 400 and "regular expression" in payload["message"]


# -- 3. nothing unauthenticated is held ------------------------------------------------------------


def test_unknown_key_is_refused_before_the_body_arrives(server):
    """Bodies used to be read (up to 8 MB, no deadline) before the signature was looked at."""
    headers = _signed(server, "/", b"", JSON_TYPE)
    headers["Authorization"] = headers["Authorization"].replace(ACCESS_KEY, "AKIDNOBODY")
    with _connect(server) as sock:
        sock.sendall(_head(server, "/", MAX_BODY_BYTES, headers))
        status, payload, response_headers = _response(sock)
        assert status == 403 and payload["__type"] == "UnrecognizedClientException"
        assert response_headers.get("connection") == "close"
        assert _closed_by_server(sock)


def _large_request(server) -> tuple[bytes, dict[str, str]]:
    """A signed control-plane request with a body past the small-body allowance (about 100 KB)."""
    big = {"datasetGroupArn": "arn:aws:personalize:eu-west-3:000000000000:dataset-group/none", "x": "y" * 100_000}
    body = json.dumps(big).encode()
    return body, _signed(server, "/", body, {**JSON_TYPE, "X-Amz-Target": "AmazonPersonalize.DescribeDatasetGroup"})


def _post_from(server, source: str, body: bytes, headers: dict[str, str]) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=WAIT, source_address=(source, 0))
    try:
        conn.request("POST", "/", body=body, headers=headers)
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def _queued_bytes(port: int, peer_port: int) -> int:
    """Bytes queued in the kernel on the socket ``127.0.0.1:port`` <-> ``peer_port`` (sent but not
    acknowledged, or received but not read by its process), from /proc/net/tcp."""
    local = f"0100007F:{port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local and fields[2].endswith(f":{peer_port:04X}"):
            tx, rx = (int(x, 16) for x in fields[4].split(":"))
            return tx + rx
    raise AssertionError(f"no socket 127.0.0.1:{port} -> :{peer_port}")


def _wait_until_read(server, sock: socket.socket) -> None:
    """Wait until the server process has read every byte sent on ``sock`` (budget is reserved as
    bytes arrive, so a stalled upload holds its share only once it was read)."""
    port = sock.getsockname()[1]
    for _ in range(WAIT * 10):
        if _queued_bytes(port, server.port) + _queued_bytes(server.port, port) == 0:
            return
        time.sleep(0.1)
    raise AssertionError("the server stopped reading an upload")


def _stall(server, headers: dict[str, str], sent: int) -> socket.socket:
    """A connection that declared a MAX_BODY_BYTES body, sent ``sent`` bytes of it and stalls."""
    sock = _connect(server)
    sock.sendall(_head(server, "/", MAX_BODY_BYTES, headers) + b" " * sent)
    _wait_until_read(server, sock)
    return sock


def test_stalled_uploads_are_bounded_and_others_keep_flowing(server, personalize):
    """The probe's 40 stalled 8 MB uploads took the server from 357 to 688 MB; one client address
    now holds at most its share of the budget."""
    headers = _signed(server, "/", b"", {**JSON_TYPE, "X-Amz-Target": "AmazonPersonalize.ListDatasetGroups"})
    held = DEFAULT_PEER_BYTES // MAX_BODY_BYTES
    before = _rss_bytes(server)
    stalled = []
    try:
        for _ in range(held):
            stalled.append(_stall(server, headers, MAX_BODY_BYTES - 1))
        for _ in range(held):
            with _connect(server) as sock:
                sock.sendall(_head(server, "/", MAX_BODY_BYTES, headers))
                status, payload, response_headers = _response(sock)
                assert status == 400 and payload["__type"] == "ThrottlingException"
                assert response_headers.get("connection") == "close"
        assert _rss_bytes(server) - before < DEFAULT_BUDGET_BYTES + 48 * 1024 * 1024
        assert "datasetGroups" in personalize.list_dataset_groups()  # small requests need no reservation
    finally:
        for sock in stalled:
            sock.close()
    # The stalled uploads' reservations are released with their connections.
    big = {"datasetGroupArn": "arn:aws:personalize:eu-west-3:000000000000:dataset-group/none", "x": "y" * 100_000}
    body = json.dumps(big).encode()
    headers = _signed(server, "/", body, {**JSON_TYPE, "X-Amz-Target": "AmazonPersonalize.DescribeDatasetGroup"})
    for _ in range(WAIT * 10):
        status, payload, _ = _post(server, "/", body, headers)
        if payload["__type"] != "ThrottlingException":
            break
        time.sleep(0.1)
    assert payload["__type"] == "ResourceNotFoundException"


def test_stalled_uploads_with_a_fake_signature_hold_only_what_they_sent(server):
    """The probe: 8 connections with the real key id, a fake signature, Content-Length 8 MB and one
    byte filled the whole budget, so every request over 64 KB was throttled for minutes."""
    headers = _signed(server, "/", b"", {**JSON_TYPE, "X-Amz-Target": "AmazonPersonalize.ListDatasetGroups"})
    headers["Authorization"] = headers["Authorization"].rsplit("Signature=", 1)[0] + "Signature=" + "0" * 64
    stalled = []
    try:
        for _ in range(DEFAULT_BUDGET_BYTES // MAX_BODY_BYTES):
            stalled.append(_stall(server, headers, 1))
        body, signed = _large_request(server)
        assert _post(server, "/", body, signed)[1]["__type"] == "ResourceNotFoundException"
        # The body's deadline assumes at least MIN_BODY_RATE (1 MiB/s): 1 + 8 s here, not 1 + 128 s
        # (the socket's WAIT timeout fails the test first).
        assert _closed_by_server(stalled[0])
    finally:
        for sock in stalled:
            sock.close()


def test_one_peer_cannot_take_the_whole_budget(server):
    """Uploads from one network (/24) stop at its share, whichever of its addresses they come from;
    another network's large request is still answered."""
    headers = _signed(server, "/", b"", {**JSON_TYPE, "X-Amz-Target": "AmazonPersonalize.ListDatasetGroups"})
    stalled = []
    try:
        for _ in range(DEFAULT_PEER_BYTES // MAX_BODY_BYTES):
            stalled.append(_stall(server, headers, MAX_BODY_BYTES - 1))
        body, signed = _large_request(server)
        assert _post_from(server, "127.0.0.1", body, signed)["__type"] == "ThrottlingException"
        assert _post_from(server, "127.0.0.2", body, signed)["__type"] == "ThrottlingException"
        assert _post_from(server, "127.0.1.2", body, signed)["__type"] == "ResourceNotFoundException"
    finally:
        for sock in stalled:
            sock.close()


def test_slow_headers_lose_their_connection(server, personalize):
    """The probe held 500 half-sent requests open; uvicorn never timed out a request's headers."""
    slow = []
    try:
        for i in range(50):
            sock = _connect(server)
            slow.append(sock)
            if i % 2:
                sock.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        assert "datasetGroups" in personalize.list_dataset_groups()
        assert all(_closed_by_server(sock) for sock in slow)
    finally:
        for sock in slow:
            sock.close()


def test_slow_body_loses_its_connection(server):
    headers = _signed(server, "/", b"", {**JSON_TYPE, "X-Amz-Target": "AmazonPersonalize.ListDatasetGroups"})
    with _connect(server) as sock:
        sock.sendall(_head(server, "/", 1000, headers) + b'{"na')
        assert _closed_by_server(sock)


def test_a_stalled_request_after_an_answered_one_loses_its_connection(server):
    """A kept-alive connection has one deadline timer, set for its first request: the second request's
    deadline must still close the connection when that request stalls."""
    headers = _signed(server, "/", b"{}", {**JSON_TYPE, "X-Amz-Target": "AmazonPersonalize.ListDatasetGroups"})
    with _connect(server) as sock:
        sock.sendall(_head(server, "/", 2, headers) + b"{}")
        status, payload, _ = _response(sock)
        assert status == 200 and "datasetGroups" in payload
        sock.sendall(_head(server, "/", 1000, headers) + b'{"na')
        assert _closed_by_server(sock)


def test_bloated_headers_are_refused(server):
    with _connect(server) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Bloat: " + b"a" * (MAX_HEADER_BYTES + 1024))
        status_line = sock.recv(64)
        assert status_line.startswith(b"HTTP/1.1 431")
        assert _closed_by_server(sock)


# -- 4. deep nesting and odd requests get AWS errors, never a 500 ----------------------------------


def test_deeply_nested_body_is_a_serialization_error(server):
    body = b'{"name": ' + b"[" * 1000 + b"]" * 1000 + b"}"  # too deep for json.dumps here, too
    status, payload, _ = _control(server, "CreateDatasetGroup", body)
    assert status == 400 and payload["__type"] == "SerializationException"
    assert "nest deeper than 32 levels" in payload["message"]


def test_deeply_nested_schema_is_invalid_input(personalize):
    with pytest.raises(ClientError) as err:
        personalize.create_schema(name=unique("deep"), schema="[" * 5000)
    assert err.value.response["Error"]["Code"] == "InvalidInputException"
    assert "nest deeper than 32 levels" in err.value.response["Error"]["Message"]


def test_deeply_nested_filter_is_invalid_input(personalize, group):
    expression = "EXCLUDE ItemID WHERE " + "(" * 200 + 'Items.GENRES IN ("Comedy")' + ")" * 200
    with pytest.raises(ClientError) as err:
        personalize.create_filter(name=unique("deep"), datasetGroupArn=group, filterExpression=expression)
    assert err.value.response["Error"]["Code"] == "InvalidInputException"
    assert "parentheses nest deeper than 32 levels at line 1, column 54" in err.value.response["Error"]["Message"]


def test_deeply_nested_properties_are_invalid_input(server, personalize, group):
    schema = personalize.create_schema(name=unique("items"), schema=json.dumps(movielens.ITEMS_SCHEMA))
    items = personalize.create_dataset(
        name=unique("items"), datasetType="ITEMS", datasetGroupArn=group, schemaArn=schema["schemaArn"]
    )["datasetArn"]
    events = server.client("personalize-events")
    deep = '{"a":' * 1000 + "1" + "}" * 1000
    with pytest.raises(ClientError) as err:
        events.put_items(datasetArn=items, items=[{"itemId": "i1", "properties": deep}])
    assert err.value.response["Error"]["Code"] == "InvalidInputException"
    assert "items.1.properties is not valid JSON" in err.value.response["Error"]["Message"]
    assert "nest deeper than 32 levels" in err.value.response["Error"]["Message"]


def test_websocket_upgrade_gets_an_aws_error(server):
    request = (
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    with _connect(server) as sock:
        sock.sendall(request.encode())
        status, payload, _ = _response(sock)
    assert status == 403 and payload["__type"] == "MissingAuthenticationTokenException"


def test_websocket_scope_is_closed_not_crashed():
    """Behind another ASGI server that does speak WebSocket, the app refuses the handshake (a 403)."""
    app = PersonalizeApp(control=None, credentials={})  # type: ignore[arg-type]
    sent = []

    async def receive():
        return {"type": "websocket.connect"}

    async def send(message):
        sent.append(message)

    asyncio.run(app({"type": "websocket", "path": "/", "headers": []}, receive, send))
    assert sent == [{"type": "websocket.close", "code": 1008}]
