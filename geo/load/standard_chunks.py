"""A national standard-data CSV read in chunks (:func:`iter_columns`), decoded as it is read.

:func:`geo.load.standard.read_columns` decodes the whole file, then parses it: the first row is
ready after both. A load that writes chunks while the rest is read (:mod:`geo.load.bulk_pipeline`)
wants the first rows at once, so here the bytes are decoded in pieces cut at line feeds (which no
CP949 or UTF-8 character contains) as pandas' C parser asks for them. The encoding is decided the
way :func:`geo.load.common.decode_bytes` decides it; a piece that contradicts the choice (or a bare
CR line break, or a row pandas refuses) raises :class:`NotStreamable` when it is reached, and the
caller reads the file the serial way, which decides as ever.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from geo.load.standard import Columns, _frame_columns, _pandas_reader

#: Bytes decoded at a time (cut at the last line feed within).
PIECE_BYTES = 4 << 20


class NotStreamable(Exception):
    """:func:`iter_columns` met what the serial reader decides otherwise: read the file with
    :func:`geo.load.standard.read_columns`."""


def _pieces(data: bytes, start: int) -> Iterator[bytes]:
    """``data[start:]`` in pieces of about :data:`PIECE_BYTES`, each ending after a line feed
    (but the last)."""
    n = len(data)
    while start < n:
        if start + PIECE_BYTES >= n:
            end = n
        else:
            end = data.rfind(b"\n", start, start + PIECE_BYTES) + 1
            if end <= start:  # (a line longer than a piece)
                end = data.find(b"\n", start + PIECE_BYTES) + 1 or n
        yield data[start:end]
        start = end


def _utf8(pieces: Iterator[bytes], codec: str) -> Iterator[bytes]:
    """The pieces as UTF-8, decoded strictly with ``codec``; a bare CR line break, or a piece the
    codec refuses, raises :class:`NotStreamable`."""
    for raw in pieces:
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError as e:
            raise NotStreamable(f"not {codec} throughout") from e
        if text.count("\r") != text.count("\r\n"):
            raise NotStreamable("bare CR line breaks")
        yield raw if codec == "utf-8" else text.encode("utf-8")


class _Stream(io.RawIOBase):
    """A binary file over an iterator of byte strings (what pandas reads)."""

    def __init__(self, parts: Iterator[bytes]) -> None:
        self._parts = parts
        self._buf = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        while not len(self._buf):
            nxt = next(self._parts, None)
            if nxt is None:
                return 0
            self._buf = memoryview(nxt)
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def _encoding(data: bytes) -> tuple[str, str, int] | None:
    """(encoding as :func:`decode_bytes` names it, codec, first byte of the text) judged by the
    first piece, or ``None`` when neither UTF-8 nor CP949 takes it."""
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig", "utf-8", 3
    head = next(_pieces(data, 0), b"")
    for enc in ("utf-8", "cp949"):
        try:
            head.decode(enc)
            return enc, enc, 0
        except UnicodeDecodeError:
            continue
    return None


def iter_columns(
    path: Path, *, chunk_rows: int
) -> tuple[list[str], str, int, Iterator[Columns]] | None:
    """:func:`geo.load.standard.read_columns` in chunks of ``chunk_rows`` file rows: (header,
    encoding, the file's line count, the chunks), or ``None`` when the serial reader would not
    use pandas (no header, a header over several lines). Concatenated (:func:`concat_columns`),
    the chunks are exactly ``read_columns``' columns; what the serial reader would read
    otherwise raises :class:`NotStreamable` when its piece is reached."""
    data = Path(path).read_bytes()
    got = _encoding(data)
    if got is None:
        return None
    enc, codec, start = got
    first = next(_pieces(data, start), b"")
    try:
        text = first.decode(codec)
    except UnicodeDecodeError:
        return None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip().lstrip("\ufeff") for h in next(reader, [])]
    if not header or reader.line_num != 1:
        return None
    n_lines = data.count(b"\n") + 1

    def chunks() -> Iterator[Columns]:
        stream = io.BufferedReader(_Stream(_utf8(_pieces(data, start), codec)), 1 << 20)
        try:
            frames = _pandas_reader(stream, header, chunk_rows)
        except (pd.errors.ParserError, ValueError) as e:
            raise NotStreamable(str(e)) from e
        line = 2
        with frames:
            while True:
                try:
                    df = next(frames)
                except StopIteration:
                    return
                except (pd.errors.ParserError, ValueError) as e:
                    raise NotStreamable(str(e)) from e
                cols, line = _frame_columns(df, header, enc, line)
                yield cols

    return header, enc, n_lines, chunks()


def concat_columns(parts: list[Columns]) -> Columns:
    """One :class:`Columns` of consecutive chunks of a file (:func:`iter_columns`)."""
    first = parts[0]
    return Columns(
        header=first.header,
        lines=np.concatenate([p.lines for p in parts]),
        cols={h: np.concatenate([p.cols[h] for p in parts]) for h in first.cols},
        encoding=first.encoding,
    )
