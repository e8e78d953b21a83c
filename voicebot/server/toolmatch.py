"""Decide whether an utterance asks for one of the client's tools, and fill its arguments.

Deterministic keyword matching (no model): a tool is asked for when a content word of
its name ("weather" in ``get_weather``) is in the utterance; its arguments are filled
from the parameters schema with what the utterance says (a place after "in", numbers,
durations, enum values mentioned). Pure.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Sequence
from fractions import Fraction

from ..errors import InputError
from .model import ToolCall, ToolSpec
from .numbers import tokenize
from .schemafill import FillHints, fill_schema
from .numbers import parse_duration_s

__all__ = ["choose_tool_call", "name_words"]

# Words that say nothing about what a tool is for ("get_weather" is about weather).
_GENERIC = frozenset("""get set fetch find lookup look up search query do make create check
current the a an of for to by in on at info information data tool call run api list show add
my your new value values result results give return returns""".split())
_PLACE_NAMES = {"location", "city", "place", "country", "where", "destination", "address",
                "region", "town", "area", "state"}
_PREPOSITION = re.compile(r"\b(?:in|at|near|for|from|to)\s+", re.IGNORECASE)
_FILLER = frozenset("today now tomorrow please right the weather time".split())


def _places(utterance: str, exclude: set[str]) -> list[str]:
    """Word runs after "in/at/near/for": ``weather in paris in celsius`` → ``['paris']``."""
    out = []
    pieces = _PREPOSITION.split(utterance)[1:]
    for piece in pieces:
        words = re.findall(r"[A-Za-z][A-Za-z.'-]*", piece)
        words = [w for w in words if w.lower() not in _FILLER]
        if words and not {w.lower() for w in words} <= exclude:
            out.append(" ".join(words).strip(".'-"))
    return out


def name_words(name: str) -> list[str]:
    """``getCurrentWeather`` / ``get_current_weather`` → ``['weather']`` (content words)."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name).replace("_", " ").replace("-", " ")
    return [w for w in spaced.lower().split() if w not in _GENERIC and len(w) > 1]


def _stem(word: str) -> str:
    for suffix in ("ies", "es", "s"):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def _score(tool: ToolSpec, said: set[str]) -> int:
    hits = sum(1 for w in name_words(tool.name) if _stem(w) in said)
    if not hits:
        return 0
    desc = {_stem(w) for w in re.findall(r"[a-z]{4,}", tool.description.lower())} - _GENERIC
    return 3 * hits + len(desc & said)


def choose_tool_call(utterance: str, tools: Sequence[ToolSpec], *, choice: str = "auto",
                     forced: str | None = None, now: dt.datetime,
                     new_call_id: Callable[[], str]) -> ToolCall | None:
    """The call to make for ``utterance``, or None to answer without tools.

    ``choice`` is "auto", "none" or "required"; ``forced`` names the one tool the client
    requires. With "auto" a tool whose arguments cannot be filled is not called.
    """
    if choice == "none" or not tools:
        return None
    said = {_stem(w) for w in re.findall(r"[a-z0-9]+", utterance.lower())}
    if forced is not None:
        tool = next(t for t in tools if t.name == forced)
    else:
        scores = [_score(t, said) for t in tools]
        best = max(scores)
        if best == 0 and choice != "required":
            return None
        tool = tools[scores.index(best)]  # ties go to the tool listed first
    hints = _hints(utterance, tool, now)
    required = tool.parameters.get("required", []) if isinstance(tool.parameters, dict) else []
    if choice == "auto" and any(_is_place(k) and k not in hints.strings
                                for k in required if isinstance(k, str)):
        return None  # "what's the weather?" names no place: don't invent one
    try:
        arguments = fill_schema(tool.parameters or {"type": "object"}, hints,
                                all_properties=False)
    except InputError:
        if choice != "required":
            return None
        arguments = {}
    return ToolCall(new_call_id(), tool.name, json.dumps(arguments, ensure_ascii=False))


def _is_place(key: str) -> bool:
    return any(p in key.lower() for p in _PLACE_NAMES)


def _hints(utterance: str, tool: ToolSpec, now: dt.datetime) -> FillHints:
    tokens = tokenize(utterance)
    numbers = [float(t) for t in tokens if isinstance(t, Fraction)]
    strings: dict[str, str] = {}
    props = tool.parameters.get("properties", {}) if isinstance(tool.parameters, dict) else {}
    duration = parse_duration_s(tokens)
    first_number: float | None = numbers[0] if numbers else None
    enum_words = {str(o).lower() for sub in (props.values() if isinstance(props, dict) else ())
                  if isinstance(sub, dict) and isinstance(sub.get("enum"), list)
                  for o in sub["enum"]}
    for key, sub in (props.items() if isinstance(props, dict) else ()):
        kind = sub.get("type") if isinstance(sub, dict) else None
        low = key.lower()
        if isinstance(sub, dict) and isinstance(sub.get("enum"), list):
            for option in sub["enum"]:
                if isinstance(option, str) and re.search(
                        r"\b" + re.escape(option.lower()) + r"\b", utterance.lower()):
                    strings[key] = option
                    break
        elif kind == "string" and _is_place(key):
            places = _places(utterance, enum_words)
            if places:
                strings[key] = places[0].title() if places[0].islower() else places[0]
        elif kind in ("number", "integer") and duration is not None:
            if "second" in low or low in ("duration", "seconds", "duration_s"):
                first_number = float(duration)
            elif "minute" in low:
                first_number = duration / 60
    return FillHints(text=utterance, heard=utterance, number=first_number, now=now,
                     strings=strings)
