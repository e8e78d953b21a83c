"""Helpers for the local server's tests: reading a streamed reply, a spoken question.

Imported by name (``from serverhelp import ...``): pytest's conftest modules all share
the name ``conftest``, so which one ``from conftest import`` finds depends on the order
the directories were collected in.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import numpy as np

from speech import synth
from voicebot.audio.wav import encode_wav


def sse_events(client: httpx.Client, body: dict[str, Any], **kw: Any) -> list[Any]:
    """POST ``body`` with stream and return the decoded ``data:`` payloads ("[DONE]" kept)."""
    out: list[Any] = []
    with client.stream("POST", "/chat/completions", json=body, **kw) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: "):
                data = line[6:]
                out.append(data if data == "[DONE]" else json.loads(data))
    return out


def collect(events: list[Any]) -> dict[str, Any]:
    """Join a stream's pieces: transcript, content, pcm, audio id, finish, usage, calls."""
    res: dict[str, Any] = {"transcript": "", "content": "", "pcm": b"", "audio_id": None,
                           "expires_at": None, "finish": None, "usage": None,
                           "tool_calls": [], "roles": []}
    for ev in events:
        if ev == "[DONE]":
            continue
        if ev.get("usage"):
            res["usage"] = ev["usage"]
        for ch in ev.get("choices", []):
            d = ch.get("delta", {})
            if "role" in d:
                res["roles"].append(d["role"])
            res["content"] += d.get("content", "")
            a = d.get("audio", {})
            res["transcript"] += a.get("transcript", "")
            if "data" in a:
                res["pcm"] += base64.b64decode(a["data"])
            if "id" in a:
                assert res["audio_id"] is None, "audio.id sent twice"
                res["audio_id"] = a["id"]
            if "expires_at" in a:
                res["expires_at"] = a["expires_at"]
            res["tool_calls"].extend(d.get("tool_calls", []))
            if "finish_reason" in ch:
                res["finish"] = ch["finish_reason"]
    return res


def spoken(text: str, rate: int = 16_000) -> dict[str, Any]:
    """A user message carrying ``text`` spoken by espeak-ng as a WAV ``input_audio`` part."""
    x = synth(text, rate)
    x = np.concatenate([np.zeros(rate // 4, np.float32), x, np.zeros(rate // 4, np.float32)])
    wav = encode_wav((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes(), rate)
    return {"role": "user", "content": [{"type": "input_audio", "input_audio": {
        "data": base64.b64encode(wav).decode(), "format": "wav"}}]}
