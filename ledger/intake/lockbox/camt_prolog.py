"""What precedes a camt file's root element, read before libxml2 sees a byte.

A bank file's prolog is a line or two: an XML declaration, perhaps a comment. A ``DOCTYPE`` (so
any entity declaration) refuses the file here, so an entity bomb is never expanded and nothing an
XXE file names is ever read, whatever the parser's own switches; an XML declaration may name only
an encoding in which ASCII is ASCII, so that no declaration can hide from this look (UTF-7 or
UTF-16 could spell a DOCTYPE the bytes do not show). :class:`PrologGuard` wraps the file for the
parser: it hashes every byte and holds the prolog back until :class:`Prolog` has passed it.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from typing import BinaryIO

from ledger.intake.lockbox.errors import LockboxRefused

# What precedes the root element is read whole before libxml2 sees a byte; a bank file's is a
# line or two.
_PROLOG_LIMIT = 1 << 20
_BOM = b"\xef\xbb\xbf"
_BLANK = b" \t\r\n"
_ENCODING = re.compile(rb"""encoding[ \t\r\n]*=[ \t\r\n]*(?:"([^"]*)"|'([^']*)')""")
_ROOT_NAME = re.compile(rb"<([^ \t\r\n/>]*)[ \t\r\n/>]")
DOCTYPE_REFUSED = (
    "the file declares a document type (DOCTYPE): bank files have none, refused unread"
)


def ascii_encoding(name: str) -> bool:
    """Whether ``name`` is UTF-8 or a one-byte encoding that writes ASCII as ASCII.

    Only in those can the prolog's markup be read from the bytes: UTF-7, UTF-16 or EBCDIC, which
    libxml2 would switch to, could spell a DOCTYPE that the bytes do not show.
    """
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        return False
    if codec == "utf-8":
        return True
    table = bytes(range(256)).decode(codec, errors="replace")
    return len(table) == 256 and table[:128] == bytes(range(128)).decode("ascii")


class Prolog:
    """What precedes the root element, read before libxml2 is handed any of it.

    A DOCTYPE (or any other ``<!`` declaration) refuses the file here, and an XML declaration
    may name only an encoding of :func:`ascii_encoding`; the root must be named ``Document``.
    """

    def __init__(self) -> None:
        self.buffer = b""

    def complete(self, eof: bool) -> bool:
        """Whether the buffer holds the whole prolog and the root's name, all acceptable.

        False asks for more bytes; at the end of the file an unfinished prolog goes to libxml2,
        which refuses it. Raises LockboxRefused.
        """
        data = self.buffer
        at = 3 if data.startswith(_BOM) else 0
        head = data[at : at + 6]
        if len(head) < 6 and b"<?xml ".startswith(head) and not eof:
            return False
        if head[:5] == b"<?xml" and head[5:6] and head[5:6] in _BLANK:
            end = data.find(b"?>", at)
            if end < 0:
                return eof
            match = _ENCODING.search(data, at, end)
            if match is not None:
                name = (match.group(1) or match.group(2) or b"").decode("ascii", "replace")
                if not ascii_encoding(name):
                    raise LockboxRefused(
                        None,
                        f"the XML declaration names the encoding {name[:40]!r}: only UTF-8 and "
                        "encodings that write ASCII as ASCII are read",
                    )
            at = end + 2
        while True:
            while at < len(data) and data[at] in _BLANK:
                at += 1
            rest = data[at : at + 4]
            if len(rest) < 4 and b"<!--".startswith(rest) and not eof:
                return False  # nothing, or the start of markup cut by the read
            if rest == b"<!--":
                end = data.find(b"-->", at + 4)
                if end < 0:
                    return eof
                at = end + 3
            elif rest[:2] == b"<?":
                end = data.find(b"?>", at + 2)
                if end < 0:
                    return eof
                at = end + 2
            elif rest[:2] == b"<!":
                raise LockboxRefused(None, DOCTYPE_REFUSED)
            else:
                break
        match = _ROOT_NAME.match(data, at)
        if match is None:
            # Text before the root, or its name cut by the read (libxml2 caps a name's length).
            return eof or data[at : at + 1] != b"<" or len(data) - at > 65536
        name = match.group(1)
        if name.rpartition(b":")[2] != b"Document":
            raise LockboxRefused(
                None,
                "not a camt.053 or camt.054 file: the root element is "
                f"{name[:80].decode('utf-8', 'replace')}, expected Document in the namespace "
                "urn:iso:std:iso:20022:tech:xsd:camt.05x.001.0N (N 2 to 8)",
            )
        return True


class PrologGuard:
    """The file as libxml2 reads it: every byte hashed (the file's SHA-256, read once), and the
    prolog held back until :class:`Prolog` has passed it."""

    def __init__(self, stream: BinaryIO, digest: hashlib._Hash) -> None:
        self._stream = stream
        self._digest = digest
        self._prolog: Prolog | None = Prolog()

    def read(self, size: int = -1) -> bytes:
        prolog = self._prolog
        if prolog is None:
            data = self._stream.read(size)
            self._digest.update(data)
            return data
        while True:
            data = self._stream.read(size if size > 0 else 1 << 16)
            self._digest.update(data)
            prolog.buffer += data
            if len(prolog.buffer) > _PROLOG_LIMIT:
                # Each read before this one left the prolog unfinished.
                raise LockboxRefused(
                    None, "more than 1 MiB precedes the root element: not a bank file"
                )
            if prolog.complete(eof=not data):
                self._prolog = None
                return prolog.buffer
