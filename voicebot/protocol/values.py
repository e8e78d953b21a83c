"""JSON value helpers shared by the client's stream decoder and the server's request
parser: what to call a value's JSON type in a message, and strict base64. Pure."""

from __future__ import annotations

import base64
import binascii
import sys
from typing import Any

__all__ = ["json_type", "decode_base64"]


def json_type(value: Any) -> str:
    """The JSON Schema name of ``value``'s type: ``integer``, ``object``, ``null``..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return {int: "integer", float: "number", str: "string", list: "array",
            dict: "object"}.get(type(value), type(value).__name__)


def decode_base64(text: str) -> bytes:
    """Standard base64 (``+/``, padded) → bytes; ``ValueError`` (``binascii.Error``) for
    anything else, including stray characters and data after the padding."""
    if sys.version_info >= (3, 11):
        # strict_mode is a C loop; b64decode(validate=True) runs a regex over the whole
        # text first, which is slow on megabytes of audio.
        return binascii.a2b_base64(text, strict_mode=True)
    return base64.b64decode(text, validate=True)  # pragma: no cover - Python 3.10
