"""The session: conversation history, the HTTP edge, tools and the turn loop.

Pure cores: :mod:`.conversation` (history → ``messages``), :mod:`.retry` (when and
how long to wait), :mod:`.calc` (safe arithmetic), :mod:`.tools` (schemas and
dispatch). I/O edges: :mod:`.client` (httpx) and :mod:`.turn` (wires them together).
"""

from __future__ import annotations

from .builtin_tools import Timer, Timers, register_builtins
from .client import ChatClient, StreamStats
from .conversation import Conversation
from .tools import ToolRegistry
from .turn import RequestOptions, Session, ToolCallRecord, TurnResult, TurnSink, TurnTimings

__all__ = [
    "ChatClient",
    "Conversation",
    "RequestOptions",
    "Session",
    "StreamStats",
    "Timer",
    "Timers",
    "ToolCallRecord",
    "ToolRegistry",
    "TurnResult",
    "TurnSink",
    "TurnTimings",
    "register_builtins",
]
