"""Fill a simple JSON Schema with honest values: structured output and tool arguments. Pure.

The local assistant has no model to generate JSON, so it fills a schema from what it
knows (its reply, what it heard, a number it computed, the time) and checks the result
with ``jsonschema``. A schema it cannot fill honestly (``$ref``, ``pattern`` it cannot
meet, ``format: email``...) raises :class:`~voicebot.errors.InputError` naming the place.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError

__all__ = ["FillHints", "fill_schema"]

_UNSUPPORTED = ("$ref", "not", "if", "patternProperties", "dependentSchemas",
                "dependencies", "propertyNames", "contains", "unevaluatedProperties")
_HEARD_NAMES = {"question", "query", "input", "transcript", "heard", "prompt", "request",
                "utterance", "user_text", "said", "text_heard"}
_MAX_DEPTH = 16


@dataclass(frozen=True)
class FillHints:
    """What the filler may put in: ``text`` (the reply), ``heard`` (the user's words),
    ``number`` (a computed result), ``now``; ``strings`` overrides by property name."""
    text: str = ""
    heard: str = ""
    number: float | None = None
    now: dt.datetime = field(default_factory=lambda: dt.datetime(1970, 1, 1,
                                                                  tzinfo=dt.timezone.utc))
    strings: dict[str, str] = field(default_factory=dict)


def fill_schema(schema: dict[str, Any], hints: FillHints, *, all_properties: bool = True) -> Any:
    """A value valid against ``schema`` built from ``hints``, or ``InputError`` saying why not.

    ``all_properties`` fills optional properties too (structured output); tool arguments
    fill only required ones plus those ``hints.strings`` names.
    """
    from jsonschema import exceptions, validators

    try:
        cls = validators.validator_for(schema)
        cls.check_schema(schema)
    except exceptions.SchemaError as exc:
        raise InputError(f"not a valid JSON Schema: {exc.message}") from None
    value = _fill(schema, hints, "", "", all_properties, 0)
    error = exceptions.best_match(cls(schema).iter_errors(value))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "the top level"
        raise InputError(f"cannot fill the schema at {where}: {error.message}")
    return value


def _fail(path: str, why: str) -> InputError:
    return InputError(f"cannot fill the schema at {path or 'the top level'}: {why}")


def _fill(schema: Any, h: FillHints, path: str, name: str, every: bool, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        raise _fail(path, "nested too deeply")
    if schema is True or schema == {}:
        return h.text if name not in _HEARD_NAMES else h.heard
    if not isinstance(schema, dict):
        raise _fail(path, "schema is not an object")
    for key in _UNSUPPORTED:
        if key in schema:
            raise _fail(path, f"'{key}' is not supported by the local server")
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return _pick_enum(schema["enum"], h, path)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return _first_branch(schema[key], h, path, name, every, depth)
    if "allOf" in schema:
        branches = schema["allOf"]
        if isinstance(branches, list) and len(branches) == 1:
            return _fill(branches[0], h, path, name, every, depth + 1)
        raise _fail(path, "'allOf' with several schemas is not supported by the local server")
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"] or ["null"]
        kind = kinds[0]
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if kind == "object":
        return _object(schema, h, path, every, depth)
    if kind == "array":
        return _array(schema, h, path, name, every, depth)
    if kind in ("number", "integer"):
        return _number(schema, h, path, kind == "integer")
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    if kind == "string":
        return _string(schema, h, path, name)
    raise _fail(path, f"unknown type {kind!r}")


def _pick_enum(options: Any, h: FillHints, path: str) -> Any:
    if not isinstance(options, list) or not options:
        raise _fail(path, "'enum' is empty")
    heard = h.heard.lower()
    for option in options:
        if isinstance(option, str) and option and re.search(
                r"\b" + re.escape(option.lower()) + r"\b", heard):
            return option
    return options[0]


def _first_branch(branches: Any, h: FillHints, path: str, name: str, every: bool,
                  depth: int) -> Any:
    if not isinstance(branches, list) or not branches:
        raise _fail(path, "'anyOf'/'oneOf' needs a list of schemas")
    problem = None
    for branch in branches:
        try:
            return _fill(branch, h, path, name, every, depth + 1)
        except InputError as exc:
            problem = exc
    assert problem is not None
    raise problem


def _object(schema: dict[str, Any], h: FillHints, path: str, every: bool, depth: int) -> Any:
    props = schema.get("properties", {})
    required = schema.get("required", [])
    if not isinstance(props, dict) or not isinstance(required, list):
        raise _fail(path, "'properties' must be an object and 'required' a list")
    out: dict[str, Any] = {}
    for key in required:
        if key not in props and schema.get("additionalProperties") is False:
            raise _fail(path, f"required property {key!r} is not in 'properties'")
    for key, sub in props.items():
        if every or key in required or key in h.strings:
            out[key] = _fill(sub, h, f"{path}.{key}" if path else key, key, every, depth + 1)
    for key in required:
        if key not in out:
            out[key] = _fill({}, h, f"{path}.{key}" if path else key, key, every, depth + 1)
    return out


def _array(schema: dict[str, Any], h: FillHints, path: str, name: str, every: bool,
           depth: int) -> Any:
    count = schema.get("minItems", 0)
    if not isinstance(count, int) or count > 64:
        raise _fail(path, "'minItems' must be a small integer")
    items = schema.get("items", {})
    return [_fill(items, h, f"{path}[{i}]", name, every, depth + 1) for i in range(count)]


def _number(schema: dict[str, Any], h: FillHints, path: str, integer: bool) -> Any:
    value: float = 0.0 if h.number is None else float(h.number)
    if integer:
        value = float(round(value))
    lo, hi = schema.get("minimum"), schema.get("maximum")
    if isinstance(lo, (int, float)) and value < lo:
        value = float(math.ceil(lo)) if integer else float(lo)
    if isinstance(hi, (int, float)) and value > hi:
        value = float(math.floor(hi)) if integer else float(hi)
    xlo, xhi = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if isinstance(xlo, (int, float)) and not isinstance(xlo, bool) and value <= xlo:
        value = float(math.floor(xlo) + 1) if integer else float(xlo) + 1
    if isinstance(xhi, (int, float)) and not isinstance(xhi, bool) and value >= xhi:
        value = float(math.ceil(xhi) - 1) if integer else float(xhi) - 1
    step = schema.get("multipleOf")
    if isinstance(step, (int, float)) and step > 0 and not math.isclose(
            value / step, round(value / step)):
        raise _fail(path, f"the answer {value:g} is not a multiple of {step}")
    return int(value) if integer or value.is_integer() else value


def _string(schema: dict[str, Any], h: FillHints, path: str, name: str) -> str:
    fmt = schema.get("format")
    if fmt == "date-time":
        text = h.now.isoformat(timespec="seconds")
    elif fmt == "date":
        text = h.now.date().isoformat()
    elif fmt == "time":
        text = h.now.time().isoformat(timespec="seconds")
    elif fmt is not None:
        raise _fail(path, f"format {fmt!r} is not something the local server can fill honestly")
    elif name in h.strings:
        text = h.strings[name]
    elif name.lower() in _HEARD_NAMES:
        text = h.heard
    else:
        text = h.text
    top = schema.get("maxLength")
    if isinstance(top, int) and len(text) > top:
        text = text[:top]
    least = schema.get("minLength")
    if isinstance(least, int) and len(text) < least:
        raise _fail(path, f"the answer is shorter than minLength {least}")
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        try:
            ok = re.search(pattern, text) is not None
        except re.error:
            ok = False
        if not ok:
            raise _fail(path, "'pattern' cannot be met by the local server's answer")
    return text
