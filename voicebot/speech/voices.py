"""The voices the local synthesiser offers, by the names API clients send. Pure data.

OpenAI-compatible clients name a voice (``alloy``, ``echo``, ...); each name here maps
to its own eSpeak NG voice, variant, pitch and rate, so two voices never sound alike.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["VoiceSpec", "VOICES", "DEFAULT_VOICE", "OPENAI_VOICES", "voices", "find_voice",
           "voice_table"]


@dataclass(frozen=True)
class VoiceSpec:
    """How one client-facing voice name is rendered by eSpeak NG."""

    espeak_voice: str   # voice name/identifier, optionally with a "+variant"
    pitch: int = 50     # espeak base pitch, 0-100 (50 is the voice's own)
    pitch_range: int = 50  # 0 monotone … 100 lively
    rate_wpm: int = 175


# Variants (+f2, +m3) are eSpeak NG's own voice files; m2 and f4 are left out because
# their built-in echo smears SSML breaks.
VOICES: dict[str, VoiceSpec] = {
    "alloy": VoiceSpec("en-us+f3", pitch=50, pitch_range=55, rate_wpm=175),
    "ash": VoiceSpec("en-us+m3", pitch=45, pitch_range=50, rate_wpm=170),
    "ballad": VoiceSpec("en-gb-x-rp+m6", pitch=48, pitch_range=70, rate_wpm=160),
    "coral": VoiceSpec("en-us+f2", pitch=58, pitch_range=60, rate_wpm=180),
    "echo": VoiceSpec("en-us+m1", pitch=40, pitch_range=45, rate_wpm=170),
    "fable": VoiceSpec("en-gb-x-rp+m7", pitch=52, pitch_range=65, rate_wpm=165),
    "nova": VoiceSpec("en-us+f1", pitch=62, pitch_range=60, rate_wpm=185),
    "onyx": VoiceSpec("en-us+m7", pitch=30, pitch_range=40, rate_wpm=160),
    "sage": VoiceSpec("en-gb-scotland+f1", pitch=50, pitch_range=50, rate_wpm=170),
    "shimmer": VoiceSpec("en+f5", pitch=60, pitch_range=70, rate_wpm=175),
    "verse": VoiceSpec("en-029+m4", pitch=48, pitch_range=55, rate_wpm=170),
    "marin": VoiceSpec("en-us-nyc+f2", pitch=55, pitch_range=55, rate_wpm=175),
    "cedar": VoiceSpec("en-gb-x-gbclan+m5", pitch=42, pitch_range=50, rate_wpm=165),
}
#: The voice used when a request names none.
DEFAULT_VOICE = "alloy"

#: The built-in voice names OpenAI's chat-completions audio documents (SDK 3.57); Azure
#: offers only alloy, echo and shimmer. Other servers may accept other names.
OPENAI_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage",
                 "shimmer", "verse", "marin", "cedar")


def voices() -> list[str]:
    """The voice names the local synthesiser knows, sorted."""
    return sorted(VOICES)


def find_voice(name: str) -> str | None:
    """The canonical voice name for ``name`` (case and spaces ignored), or None."""
    key = name.strip().lower()
    return key if key in VOICES else None


def voice_table() -> list[str]:
    """Lines for a ``voicebot voices`` listing: each local voice and how it sounds, then
    which names OpenAI's servers accept."""
    lines = [f"{name:<8} {spec.espeak_voice} (pitch {spec.pitch}, {spec.rate_wpm} words/min)"
             for name, spec in sorted(VOICES.items())]
    lines.append("OpenAI's servers accept: " + ", ".join(OPENAI_VOICES)
                 + " (Azure: alloy, echo, shimmer)")
    return lines
