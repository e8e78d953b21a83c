"""What can be told about an image without a vision model: its format and pixel size.

Hand-written header parsing because the only library that does this well (Pillow) is
a large dependency the server would use for a dozen lines of header reading. Pure.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = ["ImageInfo", "sniff_image"]


@dataclass(frozen=True)
class ImageInfo:
    format: str  # "PNG", "JPEG", "GIF", "WebP", "BMP"
    width: int | None
    height: int | None
    size_bytes: int

    def describe(self) -> str:
        """One phrase, e.g. ``a PNG image of 640 by 480 pixels (12 kilobytes)``."""
        dims = f" of {self.width} by {self.height} pixels" if self.width and self.height else ""
        kb = max(1, round(self.size_bytes / 1024))
        art = "an" if self.format[0] in "AEFHILMNORSX" else "a"
        return f"{art} {self.format} image{dims} ({kb} kilobyte{'s' if kb != 1 else ''})"


def sniff_image(data: bytes) -> ImageInfo | None:
    """Recognise PNG, JPEG, GIF, WebP or BMP from the bytes; None when it is none of them."""
    n = len(data)
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        if n >= 24 and data[12:16] == b"IHDR":
            w, h = struct.unpack(">II", data[16:24])
            return ImageInfo("PNG", w, h, n)
        return ImageInfo("PNG", None, None, n)
    if data[:6] in (b"GIF87a", b"GIF89a"):
        if n >= 10:
            w, h = struct.unpack("<HH", data[6:10])
            return ImageInfo("GIF", w, h, n)
        return ImageInfo("GIF", None, None, n)
    if data[:2] == b"BM" and n >= 26:
        w, h = struct.unpack("<ii", data[18:26])
        return ImageInfo("BMP", abs(w), abs(h), n)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ImageInfo("WebP", *_webp_size(data), n)
    if data[:3] == b"\xff\xd8\xff":
        return ImageInfo("JPEG", *_jpeg_size(data), n)
    return None


def _webp_size(data: bytes) -> tuple[int | None, int | None]:
    kind = data[12:16]
    if kind == b"VP8X" and len(data) >= 30:
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
        return w, h
    if kind == b"VP8 " and len(data) >= 30:
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if kind == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None, None


# Start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) do not.
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(data: bytes) -> tuple[int | None, int | None]:
    i = 2
    n = len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None, None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length field
            i += 2
            continue
        seg_len = int.from_bytes(data[i + 2:i + 4], "big")
        if marker in _SOF and i + 9 <= n:
            h, w = struct.unpack(">HH", data[i + 5:i + 9])
            return w, h
        if seg_len < 2:
            return None, None
        i += 2 + seg_len
    return None, None
