"""Reading a lockbox file as lines: in blocks, hashed, decoded and screened.

Both formats read their lines through :func:`_read_lines`, which keeps memory constant whatever
the file's size and refuses, with a line number, what no lockbox line may hold: bytes that are not
UTF-8, control characters (:data:`_FORBIDDEN_CHARACTER`, also what the writers refuse to write),
and lines too long to be records.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Generator, Sequence
from pathlib import Path

from ledger.intake.lockbox.errors import LockboxRefused

# No valid lockbox line comes close; the limit bounds what a file without line breaks costs.
_MAX_LINE_CHARACTERS = 1 << 16
_MAX_LINE_BYTES = 4 * _MAX_LINE_CHARACTERS  # UTF-8 takes at most 4 bytes a character
_READ_BLOCK = 1 << 20
# Tabs would shift fixed-width columns and no identifier contains a control character; a
# carriage return is accepted only as part of a CRLF line ending.
_FORBIDDEN_CHARACTER = re.compile(r"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f]|\r(?!\n)")


def _read_lines(path: Path, digest: hashlib._Hash) -> Generator[str, None, None]:
    """The decoded lines of ``path`` without their line endings, hashing its bytes on the way.

    Reads in blocks so that a file of any size takes constant memory, and refuses (naming the
    line) undecodable UTF-8, control characters and lines too long to be lockbox records.
    """
    with path.open("rb") as stream:
        pending = b""
        first_line = 1
        while block := stream.read(_READ_BLOCK):
            digest.update(block)
            data = pending + block
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                pending = data
                if len(pending) > _MAX_LINE_BYTES:
                    raise _line_too_long(first_line)
                continue
            complete, pending = data[:cut], data[cut:]
            text = _decode(complete, first_line)
            lines = text.split("\n")
            lines.pop()  # the empty string after the final line feed
            if "\r" in text:
                lines = [line.removesuffix("\r") for line in lines]
            if max(map(len, lines)) > _MAX_LINE_CHARACTERS:
                raise _line_too_long(first_line, lines)
            yield from lines
            first_line += len(lines)
        if pending:
            # The last line has no line feed after it; a carriage return there is stray.
            last = _decode(pending, first_line)
            if len(last) > _MAX_LINE_CHARACTERS:
                raise _line_too_long(first_line, [last])
            yield last


def _line_too_long(first_line: int, lines: Sequence[str] = ()) -> LockboxRefused:
    offset = next(
        (index for index, line in enumerate(lines) if len(line) > _MAX_LINE_CHARACTERS), 0
    )
    return LockboxRefused(
        first_line + offset, f"line longer than {_MAX_LINE_CHARACTERS} characters"
    )


def _decode(data: bytes, first_line: int) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = first_line + data.count(b"\n", 0, exc.start)
        raise LockboxRefused(
            line, f"not UTF-8 text: byte 0x{data[exc.start]:02x} cannot be decoded"
        ) from None
    bad = _FORBIDDEN_CHARACTER.search(text)
    if bad is not None:
        line = first_line + text.count("\n", 0, bad.start())
        column = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
        raise LockboxRefused(
            line, f"control character U+{ord(bad.group()[0]):04X} in column {column}"
        )
    return text
