"""The HTTP connection layer on the wire (api/transport.py): what curl, pipelining clients and odd request
sequences send, over raw sockets against a real server, since an SDK would hide the bytes.

Each test replays a probe that broke the server: ``Expect: 100-continue`` uploads (curl sends the header for
bodies over 1 KiB), pipelined requests that together pass the header bound, and a request answered on a
connection the server has just closed.
"""

from __future__ import annotations

import json
import socket
import struct

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from helpers import own_server
from openpersonalize.api.transport import MAX_HEADER_BYTES
from server_harness import ACCESS_KEY, REGION, SECRET_KEY

WAIT = 60  # seconds a test waits for the server before calling it stuck
GROUP_ARN = "arn:aws:personalize:eu-west-3:000000000000:dataset-group/"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with own_server(tmp_path_factory.mktemp("wire")) as srv:
        yield srv


def _request(server, target: str, body: bytes, extra: dict[str, str] | None = None) -> tuple[bytes, bytes]:
    """A botocore-signed control-plane request as raw bytes: (request line and headers, body)."""
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"AmazonPersonalize.{target}"}
    request = AWSRequest(method="POST", url=server.url + "/", data=body, headers=headers)
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "personalize", REGION).add_auth(request)
    lines = ["POST / HTTP/1.1", f"Host: 127.0.0.1:{server.port}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in {**request.headers, **(extra or {})}.items() if k.lower() != "host"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode(), body


def _describe(server, name: str, last: bool = False) -> bytes:
    """A DescribeDatasetGroup of a group that does not exist: its ResourceNotFoundException names ``name``.
    ``last`` asks the server to close the connection after answering (the client never half-closes: uvicorn
    drops a half-closed connection)."""
    payload = json.dumps({"datasetGroupArn": GROUP_ARN + name}).encode()
    head, body = _request(server, "DescribeDatasetGroup", payload, {"Connection": "close"} if last else None)
    return head + body


def _read_to_close(sock: socket.socket) -> bytes:
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out


def _responses(raw: bytes) -> list[tuple[bytes, bytes]]:
    """(status line, body) of each response in a byte stream of Content-Length responses."""
    found = []
    while raw:
        head, _, raw = raw.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        length = next(int(v) for k, _, v in (line.partition(b": ") for line in lines[1:]) if k == b"content-length")
        found.append((lines[0], raw[:length]))
        raw = raw[length:]
    return found


def _server_log(server) -> str:
    return (server.data_dir.parent / f"server-{server.port}.log").read_text()


def test_expect_100_continue_upload_gets_continue_then_its_answer(server):
    head, body = _request(server, "ListDatasetGroups", b'{"maxResults": 5}', {"Expect": "100-continue"})
    with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as sock:
        sock.sendall(head)
        assert sock.recv(64) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body + _describe(server, "after-continue", last=True))
        (first, listed), (second, described) = _responses(_read_to_close(sock))
    assert first == b"HTTP/1.1 200 OK" and json.loads(listed) == {"datasetGroups": []}
    assert second == b"HTTP/1.1 400 Bad Request" and b"after-continue" in described


def test_pipelined_requests_past_the_header_bound_are_all_answered_in_order(server):
    """Each request's headers are small; only their sum, sent in one write, passes MAX_HEADER_BYTES."""
    names = [f"pipelined-{i}" for i in range(160)]
    burst = b"".join(_describe(server, name, last=name == names[-1]) for name in names)
    assert len(burst) > 2 * MAX_HEADER_BYTES
    with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as sock:
        sock.sendall(burst)
        answers = _responses(_read_to_close(sock))
    assert [status for status, _ in answers] == [b"HTTP/1.1 400 Bad Request"] * len(names)
    assert [json.loads(body)["message"].split("/")[-1].split()[0] for _, body in answers] == names


def test_client_gone_after_pipelining_leaves_no_internal_error(server):
    """A client sends two pipelined requests and resets the connection at once. uvicorn marks only the newest
    request disconnected, so the first one's answer went to a closed transport (uvloop raises): the app logged
    an unhandled error for a request nobody was waiting for."""
    for attempt in range(5):
        with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as sock:
            sock.sendall(_describe(server, f"gone-{attempt}") + _describe(server, f"gone-too-{attempt}"))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as sock:
        sock.sendall(_describe(server, "still-serving", last=True))
        assert b"still-serving" in _read_to_close(sock)
    log = _server_log(server)
    assert "unhandled error" not in log and "Exception in ASGI application" not in log, log[-2000:]
