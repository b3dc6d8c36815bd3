"""Streaming JSON Lines executor for batch jobs: read a line, answer it, write a line.

Input and output are streamed in chunks of lines, so memory stays bounded whatever the
input size; a line that cannot be answered yields an error line and the job goes on.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

CHUNK_LINES = 2048
BLOCK_LINES = 1024


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


def iter_lines(stream: Any) -> Iterator[bytes]:
    """Lines of a binary stream (a local file or a botocore StreamingBody), without line ends."""
    if hasattr(stream, "iter_lines"):
        yield from stream.iter_lines(chunk_size=1 << 20)
        return
    for line in stream:
        yield line.rstrip(b"\r\n")


def parse_line(raw: bytes) -> dict[str, Any]:
    """One input line as a JSON object; LineError otherwise."""
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise LineError(f"Line is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise LineError("Line must be a JSON object.")
    return value


def answer(raw: bytes, handle: Callable[[dict[str, Any]], dict[str, Any]]) -> tuple[bytes, bool]:
    """The output line for one input line, and whether it is an error line."""
    try:
        parsed = parse_line(raw)
    except LineError as exc:
        text = raw.decode("utf-8", "replace")
        return _dump({"input": text, "output": None, "error": str(exc)}), True
    try:
        return _dump({"input": parsed, "output": handle(parsed), "error": None}), False
    except LineError as exc:
        return _dump({"input": parsed, "output": None, "error": str(exc)}), True


def _dump(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def _chunks(lines: Iterable[bytes], size: int) -> Iterator[list[bytes]]:
    chunk: list[bytes] = []
    for line in lines:
        if not line.strip():
            continue
        chunk.append(line)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def stream_jsonl(
    stream: Any,
    write: Callable[[bytes], None],
    handle: Callable[[dict[str, Any]], dict[str, Any]],
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
    chunk_lines: int = CHUNK_LINES,
) -> BatchStats:
    """Answer every non-blank line of ``stream`` with ``handle``, writing one output line each, in order.

    ``workers`` > 1 answers the lines of a chunk on a thread pool (numpy releases the GIL).
    """
    stats = BatchStats()
    start = time.perf_counter()
    pool = ThreadPoolExecutor(workers) if workers > 1 else None
    try:
        for chunk in _chunks(iter_lines(stream), chunk_lines):
            if pool is not None:
                step = max(1, len(chunk) // (workers * 4))
                parts = [chunk[i : i + step] for i in range(0, len(chunk), step)]
                results = [r for part in pool.map(lambda p: [answer(x, handle) for x in p], parts) for r in part]
            else:
                results = [answer(x, handle) for x in chunk]
            write(b"".join(line for line, _ in results))
            stats.lines += len(results)
            stats.errors += sum(1 for _, bad in results if bad)
            if progress is not None:
                progress(stats.lines)
    finally:
        if pool is not None:
            pool.shutdown()
    stats.seconds = time.perf_counter() - start
    return stats


def answer_block(raws: list[bytes], handle: BlockHandler) -> list[tuple[bytes, bool]]:
    """The output lines for a block of input lines (parsed, then answered together), in order."""
    out: list[tuple[bytes, bool] | None] = []
    parsed: list[dict[str, Any]] = []
    slots: list[int] = []
    for raw in raws:
        try:
            line = parse_line(raw)
        except LineError as exc:
            out.append((_dump({"input": raw.decode("utf-8", "replace"), "output": None, "error": str(exc)}), True))
            continue
        slots.append(len(out))
        out.append(None)
        parsed.append(line)
    for slot, line, result in zip(slots, parsed, handle(parsed) if parsed else [], strict=True):
        if isinstance(result, LineError):
            out[slot] = (_dump({"input": line, "output": None, "error": str(result)}), True)
        else:
            out[slot] = (_dump({"input": line, "output": result, "error": None}), False)
    return [x for x in out if x is not None]


def stream_jsonl_blocks(
    stream: Any,
    write: Callable[[bytes], None],
    handle: BlockHandler,
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
    block_lines: int = BLOCK_LINES,
) -> BatchStats:
    """Like ``stream_jsonl``, but ``handle`` answers a block of lines at once (block scoring).

    With ``workers`` > 1 up to ``workers`` blocks are answered concurrently; output stays in
    input order and at most ``workers`` + 1 blocks are held in memory.
    """
    stats = BatchStats()
    start = time.perf_counter()

    def done(results: list[tuple[bytes, bool]]) -> None:
        write(b"".join(line for line, _ in results))
        stats.lines += len(results)
        stats.errors += sum(1 for _, bad in results if bad)
        if progress is not None:
            progress(stats.lines)

    blocks = _chunks(iter_lines(stream), block_lines)
    if workers <= 1:
        for block in blocks:
            done(answer_block(block, handle))
    else:
        with ThreadPoolExecutor(workers) as pool:
            pending: deque[Future[list[tuple[bytes, bool]]]] = deque()
            for block in blocks:
                pending.append(pool.submit(answer_block, block, handle))
                if len(pending) >= workers:
                    done(pending.popleft().result())
            while pending:
                done(pending.popleft().result())
    stats.seconds = time.perf_counter() - start
    return stats
