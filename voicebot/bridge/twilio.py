"""Twilio Media Streams (placeholder until the Twilio link lands)."""

from __future__ import annotations

from typing import Any

from .hub import Hub

__all__ = ["twilio_routes"]


def twilio_routes(hub: Hub) -> list[Any]:
    return []
