"""Local Python functions the model may call, and their JSON-schema descriptions.

Register a function with the decorator; its parameters' type hints become the JSON
schema (``Annotated[T, "what it is"]`` adds a description), or pass ``parameters``
explicitly::

    registry = ToolRegistry()

    @registry.tool(description="Turn a light on or off.")
    def set_light(room: Annotated[str, "which room"], on: bool) -> str:
        ...

:meth:`ToolRegistry.specs` goes into the request's ``tools``;
:meth:`ToolRegistry.call` runs a call the model made and always returns a string
for the model (errors included), so a bad call never ends the conversation.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jsonschema

from voicebot import errors
from voicebot.aio import within

__all__ = ["ToolRegistry", "Tool", "schema_for"]

_PRIMITIVES: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    type(None): {"type": "null"},
    dict: {"type": "object"},
    list: {"type": "array"},
    Any: {},
}


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    function: Callable[..., Any]
    validator: jsonschema.protocols.Validator

    def spec(self) -> dict[str, Any]:
        """The ``tools`` entry for a request."""
        return {"type": "function",
                "function": {"name": self.name, "description": self.description,
                             "parameters": self.parameters}}


class ToolRegistry:
    """Named tools. Register at start-up; :meth:`call` runs on the event loop thread
    (synchronous functions are moved to a worker thread so they cannot block audio)."""

    def __init__(self, *, timeout_s: float = 30.0) -> None:
        self.timeout_s = timeout_s
        self._tools: dict[str, Tool] = {}

    def tool(self, *, name: str | None = None, description: str | None = None,
             parameters: dict[str, Any] | None = None
             ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: register the function (sync or async) and return it unchanged.

        ``description`` defaults to the first paragraph of the docstring;
        ``parameters`` (a JSON schema object) defaults to one built from type hints.
        """
        def register(function: Callable[..., Any]) -> Callable[..., Any]:
            self.add(function, name=name, description=description, parameters=parameters)
            return function
        return register

    def add(self, function: Callable[..., Any], *, name: str | None = None,
            description: str | None = None, parameters: dict[str, Any] | None = None) -> Tool:
        """Register ``function`` (the non-decorator form of :meth:`tool`)."""
        tool_name = name or function.__name__
        if tool_name in self._tools:
            raise errors.ConfigError(f"a tool named {tool_name!r} is already registered")
        if description is None:
            description = (inspect.getdoc(function) or "").split("\n\n")[0].replace("\n", " ")
        schema = parameters if parameters is not None else schema_for(function)
        validator_cls = jsonschema.validators.validator_for(schema)
        validator_cls.check_schema(schema)
        tool = Tool(tool_name, description, schema, function, validator_cls(schema))
        self._tools[tool_name] = tool
        return tool

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __len__(self) -> int:
        return len(self._tools)

    def specs(self) -> list[dict[str, Any]]:
        """The request's ``tools`` list, in registration order."""
        return [tool.spec() for tool in self._tools.values()]

    async def call(self, name: str, arguments_json: str) -> str:
        """Run tool ``name`` with the JSON ``arguments_json`` the model produced.

        Returns the result as a string (non-strings are JSON-encoded). An unknown tool,
        bad JSON, arguments that do not fit the schema, a timeout or an exception in
        the tool become an ``error: ...`` string the model can react to.
        """
        tool = self._tools.get(name)
        if tool is None:
            known = ", ".join(self._tools) or "none"
            return f"error: unknown tool {name!r} (available: {known})"
        try:
            arguments = json.loads(arguments_json) if arguments_json.strip() else {}
        except ValueError as exc:
            return f"error: arguments are not valid JSON ({exc})"
        if not isinstance(arguments, dict):
            return "error: arguments must be a JSON object"
        problem = jsonschema.exceptions.best_match(tool.validator.iter_errors(arguments))
        if problem is not None:
            where = "/".join(str(p) for p in problem.absolute_path)
            return f"error: invalid arguments{' at ' + where if where else ''}: {problem.message}"
        try:
            if inspect.iscoroutinefunction(tool.function):
                pending = tool.function(**arguments)
            else:
                pending = asyncio.to_thread(tool.function, **arguments)
            result = await within(pending, self.timeout_s)
        except asyncio.TimeoutError:
            return f"error: {name} did not finish within {self.timeout_s:g} s"
        except Exception as exc:  # a tool's failure is information for the model
            return errors.redact(f"error: {name} failed: {type(exc).__name__}: {exc}")
        if isinstance(result, str):
            return result
        return json.dumps(result, ensure_ascii=False, default=str)


def schema_for(function: Callable[..., Any]) -> dict[str, Any]:
    """A JSON schema object for ``function``'s keyword parameters, from its type hints.

    Parameters without a default are required. Supported hints: str, int, float,
    bool, None, list[T], dict[str, T], tuple[T, ...], Literal[...], unions/Optional
    and ``Annotated[T, "description"]``.
    """
    hints = typing.get_type_hints(function, include_extras=True)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for param in inspect.signature(function).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        prop = _schema_of(hints.get(param.name, Any))
        if param.default is param.empty:
            required.append(param.name)
        elif param.default is None or isinstance(param.default, (str, int, float, bool)):
            prop = {**prop, "default": param.default}
        properties[param.name] = prop
    schema: dict[str, Any] = {"type": "object", "properties": properties,
                              "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


def _schema_of(hint: Any) -> dict[str, Any]:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Annotated:
        inner = _schema_of(args[0])
        notes = [a for a in args[1:] if isinstance(a, str)]
        return {**inner, "description": " ".join(notes)} if notes else inner
    if hint in _PRIMITIVES:
        return dict(_PRIMITIVES[hint])
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (typing.Union, types.UnionType):
        options = [_schema_of(a) for a in args]
        return options[0] if len(options) == 1 else {"anyOf": options}
    if origin in (list, set, frozenset) or (origin is tuple and len(args) == 2
                                            and args[1] is Ellipsis):
        return {"type": "array", "items": _schema_of(args[0])} if args else {"type": "array"}
    if origin is dict:
        return ({"type": "object", "additionalProperties": _schema_of(args[1])}
                if args else {"type": "object"})
    raise errors.ConfigError(f"cannot describe the type {hint!r} as a JSON schema; "
                             "pass parameters= explicitly")
