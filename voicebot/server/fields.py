"""Field checks for the request parser: each failure is a ``RequestError`` (a 400) whose
one line names the field (``messages[1].content[0].type``) and says what is wrong. Pure."""

from __future__ import annotations

from typing import Any

from ..errors import RequestError
from ..protocol.values import json_type

__all__ = ["fail", "expect", "need", "opt", "show"]


def fail(param: str, message: str, code: str = "invalid_value") -> RequestError:
    return RequestError(f"{param}: {message}", param=param, code=code)


def expect(value: Any, types: tuple[type, ...], param: str, what: str) -> Any:
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        raise fail(param, f"expected {what}, got {json_type(value)}", "invalid_type")
    return value


def need(obj: dict[str, Any], key: str, types: tuple[type, ...], param: str, what: str) -> Any:
    if obj.get(key) is None:
        raise fail(param, "is required", "missing_required_parameter")
    return expect(obj[key], types, param, what)


def opt(obj: dict[str, Any], key: str, types: tuple[type, ...], param: str, what: str,
         default: Any) -> Any:
    value = obj.get(key)
    return default if value is None else expect(value, types, param, what)


def show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
