"""Known replies for the CLI tests: audio, transcript, and the SSE bytes that carry them.

The expectations of every test are computed from these inputs (what the server sent),
never from what voicebot produced.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from sse_server import delta, finish, sse, usage_chunk

API_RATE = 24_000


def tone_pcm16(seconds: float, *, freq_hz: float = 440.0, rate: int = API_RATE,
               amplitude: float = 0.3) -> bytes:
    """A sine with a slow amplitude ramp (so shifted or dropped samples show)."""
    n = round(seconds * rate)
    t = np.arange(n) / rate
    x = amplitude * np.sin(2 * np.pi * freq_hz * t) * (0.5 + 0.5 * t / max(seconds, 1e-9))
    return np.rint(x * 32767).astype("<i2").tobytes()


def odd_pieces(pcm: bytes, piece_bytes: int = 4801) -> list[bytes]:
    """``pcm`` cut every ``piece_bytes`` (odd: deltas end on half a sample)."""
    return [pcm[i:i + piece_bytes] for i in range(0, len(pcm), piece_bytes)]


def audio_chunk(pcm: bytes, *, audio_id: str | None = None) -> dict[str, Any]:
    audio: dict[str, Any] = {"data": base64.b64encode(pcm).decode()}
    if audio_id:
        audio["id"] = audio_id
    return delta(audio=audio)


@dataclass
class SpokenReply:
    """A spoken reply: its transcript pieces, its audio pieces and usage."""
    transcript: list[str]
    pcm_pieces: list[bytes]
    usage: tuple[int, int] = (11, 23)

    @property
    def pcm(self) -> bytes:
        return b"".join(self.pcm_pieces)

    @property
    def text(self) -> str:
        return "".join(self.transcript)

    def chunks(self) -> list[dict[str, Any]]:
        """Role, transcript deltas (running ahead), audio deltas, finish, usage."""
        out = [delta(role="assistant")]
        out += [delta(audio={"transcript": t}) for t in self.transcript]
        out += [audio_chunk(p, audio_id="audio_1" if i == 0 else None)
                for i, p in enumerate(self.pcm_pieces)]
        out += [finish("stop"), delta(audio={"expires_at": 2_000_000_000}),
                usage_chunk(*self.usage)]
        return out

    def body(self) -> bytes:
        return sse(*self.chunks())


def tool_call_body(name: str, arguments: dict[str, Any], *, call_id: str = "call_1",
                   split_at: int = 7) -> bytes:
    """A reply that only asks for one tool call, its arguments in two deltas."""
    args = json.dumps(arguments)
    return sse(
        delta(role="assistant"),
        delta(tool_calls=[{"index": 0, "id": call_id, "type": "function",
                           "function": {"name": name, "arguments": args[:split_at]}}]),
        delta(tool_calls=[{"index": 0, "function": {"arguments": args[split_at:]}}]),
        finish("tool_calls"),
        usage_chunk(5, 7),
    )


def whole_samples(pcm: bytes) -> bytes:
    """What a 16-bit WAV can hold of ``pcm``: an odd last byte is half a sample."""
    return pcm[: len(pcm) - len(pcm) % 2]
