"""Streaming JSON Lines executor for batch jobs: read lines, answer them in blocks, write lines.

Input and output are streamed a block of lines at a time, so memory stays bounded whatever the
input size; a line that cannot be answered yields an error line and the job goes on. A large
input is answered on the installed executor's workers (``jobs/executors.py``: this node's processes,
one per CPU, or Ray tasks), output still in input order.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from functools import partial
from itertools import chain, islice
from typing import IO, Any, NamedTuple

import orjson
from botocore.response import StreamingBody

from .. import nesting
from .executors import installed
from .process_pool import default_processes

# a batch input: a local file opened for binary reading, or an S3 object's body
InputStream = IO[bytes] | StreamingBody

BLOCK_LINES = 1024
MAX_LINE_BYTES = 1 << 20  # far above any valid line (a user, an item, 500 item ids, filter values)
PREFIX_BYTES = 200  # what an error line echoes of an input line that is not a JSON object
READ_BYTES = 1 << 20
POOL_MIN_BLOCKS = 4  # below this many blocks, starting worker processes costs more than it saves
BOM = b"\xef\xbb\xbf"  # UTF-8's byte order mark, opening files saved "UTF-8 with BOM" (json.loads skips it)


class LineError(Exception):
    """A line that cannot be answered; its message becomes the output line's ``error``."""


# answers for a block of parsed lines, in order: an output object, or the LineError of that line
BlockHandler = Callable[[list[dict[str, Any]]], list[dict[str, Any] | LineError]]


@dataclass
class BatchStats:
    """Counts of one streamed file."""

    lines: int = 0
    errors: int = 0
    seconds: float = 0.0


class AnsweredBlock(NamedTuple):
    """The output lines of one block, joined, with their counts."""

    data: bytes
    lines: int
    errors: int


@dataclass(frozen=True)
class Workers:
    """How worker processes build their handler: ``factory(**kwargs)``, a module-level (picklable) function."""

    factory: Callable[..., BlockHandler]
    kwargs: dict[str, Any]
    processes: int = field(default_factory=default_processes)


class OverlongLine(bytes):
    """The first ``PREFIX_BYTES`` of an input line longer than ``MAX_LINE_BYTES``; the rest was skipped, never held."""


def iter_lines(stream: InputStream, limit: int = MAX_LINE_BYTES) -> Iterator[bytes]:
    """Lines of a batch input, without line ends, read ``READ_BYTES`` at a time.

    A line longer than ``limit`` comes out as an ``OverlongLine`` (its first bytes) and the rest
    of it is read and dropped up to the next newline, so memory stays bounded by ``limit`` plus
    one read, whatever the input (a 1 GiB file of NUL bytes without a newline is one such line).
    """
    head = b""  # the current line so far, while it is within the limit
    overlong = False  # the current line passed the limit: what is left of it is dropped
    while chunk := stream.read(READ_BYTES):
        *ends, tail = chunk.split(b"\n")
        for piece in ends:
            if head or overlong or len(piece) > limit:
                yield _finished(head, piece, overlong, limit)
                head, overlong = b"", False
            else:
                yield piece.rstrip(b"\r")  # the common case: a whole line within one read
        if not overlong:
            head += tail
            if len(head) > limit:
                head, overlong = head[:PREFIX_BYTES], True
    if head or overlong:
        yield _finished(head, b"", overlong, limit)


def _finished(head: bytes, piece: bytes, overlong: bool, limit: int) -> bytes:
    if overlong:
        return OverlongLine(head)
    line = head + piece
    return OverlongLine(line[:PREFIX_BYTES]) if len(line) > limit else line.rstrip(b"\r")


def parse_line(raw: bytes) -> dict[str, Any]:
    """One input line as a JSON object; LineError otherwise (too long, too deeply nested, not JSON)."""
    if isinstance(raw, OverlongLine):
        raise LineError(f"Line is longer than {MAX_LINE_BYTES} bytes.")
    try:
        value = nesting.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise LineError(f"Line is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise LineError("Line must be a JSON object.")
    return value


def raw_input(raw: bytes) -> str:
    """What an error line echoes of an input line that could not be parsed: at most its first ``PREFIX_BYTES``."""
    text = raw[:PREFIX_BYTES].decode("utf-8", "replace")
    return text + "..." if isinstance(raw, OverlongLine) or len(raw) > PREFIX_BYTES else text


def dump_line(value: dict[str, Any]) -> bytes:
    """One compact UTF-8 output line, newline included.

    orjson is ten times faster than json here; what it refuses (a lone surrogate or an integer
    beyond 64 bits, both accepted by the input parser) goes through json with ASCII escapes.
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError:
        return json.dumps(value, separators=(",", ":")).encode() + b"\n"


def line_blocks(lines: Iterable[bytes], size: int) -> Iterator[list[bytes]]:
    """The non-blank lines in lists of ``size`` (an over-long line always counts, to be answered with its error).

    A line holding only a byte order mark is blank: the first line of a file saved with one, left empty."""
    block: list[bytes] = []
    for line in lines:
        if line.strip() in (b"", BOM) and not isinstance(line, OverlongLine):
            continue
        block.append(line)
        if len(block) >= size:
            yield block
            block = []
    if block:
        yield block


def answer_block(raws: list[bytes], handle: BlockHandler) -> AnsweredBlock:
    """The output lines for a block of input lines (parsed, then answered together), in order."""
    out: list[bytes] = []
    parsed: list[dict[str, Any]] = []
    slots: list[int] = []
    errors = 0
    for raw in raws:
        try:
            line = parse_line(raw)
        except LineError as exc:
            out.append(dump_line({"input": raw_input(raw), "output": None, "error": str(exc)}))
            errors += 1
            continue
        slots.append(len(out))
        out.append(b"")
        parsed.append(line)
    for slot, line, result in zip(slots, parsed, handle(parsed) if parsed else [], strict=True):
        if isinstance(result, LineError):
            out[slot] = dump_line({"input": line, "output": None, "error": str(result)})
            errors += 1
        else:
            out[slot] = dump_line({"input": line, "output": result, "error": None})
    return AnsweredBlock(b"".join(out), len(out), errors)


def _worker_answerer(
    factory: Callable[..., BlockHandler], kwargs: dict[str, Any]
) -> Callable[[list[bytes]], AnsweredBlock]:
    """In a worker process: build the handler once, answer raw blocks with it."""
    return partial(answer_block, handle=factory(**kwargs))


def stream_jsonl_blocks(
    stream: InputStream,
    write: Callable[[bytes], None],
    handle: BlockHandler,
    progress: Callable[[int], None] | None = None,
    workers: Workers | None = None,
    block_lines: int = BLOCK_LINES,
) -> BatchStats:
    """Answer every non-blank line of ``stream``, ``handle`` taking a block of lines at once; output in order.

    With ``workers``, an input of at least ``POOL_MIN_BLOCKS`` blocks is answered on the installed
    executor's workers, each with its own handler, a bounded number of blocks in flight; a smaller
    one is answered here with ``handle``.
    """
    stats = BatchStats()
    start = time.perf_counter()
    blocks = line_blocks(iter_lines(stream), block_lines)
    head = list(islice(blocks, POOL_MIN_BLOCKS))
    blocks = chain(head, blocks)

    def drain(answered: Iterable[AnsweredBlock]) -> None:
        for block in answered:
            write(block.data)
            stats.lines += block.lines
            stats.errors += block.errors
            if progress is not None:
                progress(stats.lines)

    if workers is None or len(head) < POOL_MIN_BLOCKS:
        drain(answer_block(block, handle) for block in blocks)
    else:
        kwargs = {"factory": workers.factory, "kwargs": workers.kwargs}
        with closing(installed().ordered_map(_worker_answerer, kwargs, blocks, workers.processes)) as answered:
            drain(answered)
    stats.seconds = time.perf_counter() - start
    return stats
