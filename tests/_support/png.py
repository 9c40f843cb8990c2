"""Read a PNG's pixels with the standard library (8-bit RGB or RGBA, not interlaced: what
Chromium's --screenshot writes), to tell a rendered page from a blank one."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def pixels(path: Path) -> tuple[int, int, list[bytes]]:
    """Width, height and the unfiltered rows of the image at ``path``."""
    data = path.read_bytes()
    assert data.startswith(SIGNATURE), "not a PNG file"
    at, idat, header = len(SIGNATURE), b"", b""
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        at += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, interlace) == (8, 0), "expected 8 bits per sample, not interlaced"
    assert colour in (2, 6), "expected RGB or RGBA"
    size = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * size
    rows: list[bytes] = []
    previous = bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        row = _unfilter(raw[start], bytearray(raw[start + 1 : start + 1 + stride]), previous, size)
        rows.append(bytes(row))
        previous = bytes(row)
    return width, height, rows


def _unfilter(kind: int, row: bytearray, above: bytes, size: int) -> bytearray:
    for i in range(len(row)):
        left = row[i - size] if i >= size else 0
        up = above[i]
        corner = above[i - size] if i >= size else 0
        if kind == 1:
            row[i] = (row[i] + left) & 0xFF
        elif kind == 2:
            row[i] = (row[i] + up) & 0xFF
        elif kind == 3:
            row[i] = (row[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            row[i] = (row[i] + _paeth(left, up, corner)) & 0xFF
    return row


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def colours(path: Path, step: int = 4) -> int:
    """How many different colours a sample of the image's pixels has (1: blank)."""
    width, height, rows = pixels(path)
    size = len(rows[0]) // width
    seen = {
        rows[y][x * size : x * size + 3]
        for y in range(0, height, step)
        for x in range(0, width, step)
    }
    return len(seen)
