"""The API spec the server serves, and its schemas in the shape servers use in practice.

The seed spec (``openapi.yaml``, shipped as package data) has ``note:`` comments where
real servers differ from it: the server accepts both shapes and emits the practical
one. :func:`practical_schemas` applies exactly those notes, so output can be checked
against "the spec as practised" with ``jsonschema``; :func:`seed_schemas` is the
document word for word.
"""

from __future__ import annotations

import copy
import functools
from importlib import resources
from typing import Any

import yaml

__all__ = ["spec_text", "seed_schemas", "practical_schemas", "validator_for_component"]


@functools.lru_cache(maxsize=1)
def spec_text() -> str:
    """The spec file as text (what ``GET /openapi.yaml`` serves). Any thread."""
    return resources.files("voicebot.server").joinpath("openapi.yaml").read_text("utf-8")


@functools.lru_cache(maxsize=1)
def _seed() -> dict[str, Any]:
    seed: dict[str, Any] = yaml.safe_load(spec_text())
    return seed


def seed_schemas() -> dict[str, Any]:
    """A deep copy of the whole spec document, unchanged."""
    return copy.deepcopy(_seed())


def practical_schemas() -> dict[str, Any]:
    """The spec document with its ``note:`` differences applied (a new copy each call).

    - ``AssistantMessage.role`` also takes ``assistant``; its ``tool_calls`` may be an array.
    - ``ImageContent.image_url`` may be ``{"url", "detail"}``.
    - ``ResponseMessage.tool_calls`` may be an array of calls, each with an ``index``.
    - ``audio.format`` is a known request field.
    """
    doc = seed_schemas()
    s = doc["components"]["schemas"]
    call = s["AssistantMessage"]["properties"]["tool_calls"]
    s["AssistantMessage"]["properties"]["role"]["enum"] = ["system", "assistant"]
    s["AssistantMessage"]["properties"]["tool_calls"] = {"oneOf": [call, {"type": "array",
                                                                          "items": call}]}
    s["ImageContent"]["properties"]["image_url"] = {"oneOf": [
        {"type": "string", "format": "uri"},
        {"type": "object", "required": ["url"],
         "properties": {"url": {"type": "string"}, "detail": {"type": "string"}}},
    ]}
    indexed = {"allOf": [{"$ref": "#/components/schemas/ToolCall"},
                         {"type": "object", "properties": {"index": {"type": "integer"}}}]}
    s["ResponseMessage"]["properties"]["tool_calls"] = {"oneOf": [
        {"$ref": "#/components/schemas/ToolCall"}, {"type": "array", "items": indexed}]}
    s["ChatCompletionRequest"]["properties"]["audio"]["properties"]["format"] = {"type": "string"}
    return doc


def validator_for_component(name: str, *, practical: bool = True) -> Any:
    """A ``jsonschema`` validator for ``components.schemas[name]`` with ``$ref`` resolved
    inside the document. OpenAPI 3.0 schemas are checked as Draft 4 (their base)."""
    from jsonschema import Draft4Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    doc = practical_schemas() if practical else seed_schemas()
    registry: Registry[Any] = Registry().with_resource(
        "urn:voicebot:spec", Resource.from_contents(doc, default_specification=DRAFT4))
    schema = {"$ref": f"urn:voicebot:spec#/components/schemas/{name}"}
    return Draft4Validator(schema, registry=registry)
