"""voicebot: a voice assistant over a streaming chat-completions API with audio output."""

from __future__ import annotations

from .errors import VoicebotError

__version__ = "0.1.0"
__all__ = ["VoicebotError", "__version__"]
