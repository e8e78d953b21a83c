"""A scripted chat-completions server for end-to-end tests (real HTTP on 127.0.0.1).

It records every request body and answers each with a known reply: transcript deltas
and PCM16 24 kHz audio deltas cut at odd byte boundaries, then finish_reason, usage and
[DONE]. Runs uvicorn in a thread on an ephemeral port.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
import time
from typing import Any

import numpy as np
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route


class ReplyServer:
    def __init__(self, reply_pcm: bytes, transcript: str, *, piece_bytes: int = 4801,
                 piece_delay_s: float = 0.01) -> None:
        self.reply_pcm = reply_pcm
        self.transcript = transcript
        self.piece_bytes = piece_bytes  # odd on purpose: deltas end on half a sample
        self.piece_delay_s = piece_delay_s
        self.requests: list[dict[str, Any]] = []
        #: Per request: time.monotonic() when the client hung up mid-stream (None: the
        #: stream ran to its end), and how many reply audio bytes it had been sent.
        self.hung_up_at: list[float | None] = []
        self.audio_bytes_sent: list[int] = []
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    async def _chat(self, request: Request) -> StreamingResponse:
        body = await request.json()
        self.requests.append(body)
        index = len(self.requests) - 1
        self.hung_up_at.append(None)
        self.audio_bytes_sent.append(0)

        async def events():  # type: ignore[no-untyped-def]
            def chunk(delta: dict[str, Any], **extra: Any) -> bytes:
                c = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 0,
                     "model": "test", "choices": [{"index": 0, "delta": delta, **extra}]}
                return f"data: {json.dumps(c)}\n\n".encode()
            try:
                async for piece in body_chunks(chunk):
                    yield piece
            except BaseException:  # cancelled: the client went away (Starlette noticed)
                self.hung_up_at[index] = time.monotonic()
                raise

        async def body_chunks(chunk):  # type: ignore[no-untyped-def]
            yield chunk({"role": "assistant"})
            words = self.transcript.split(" ")
            yield chunk({"audio": {"transcript": " ".join(words[: len(words) // 2]) + " "}})
            first = True
            for i in range(0, len(self.reply_pcm), self.piece_bytes):
                piece = base64.b64encode(self.reply_pcm[i:i + self.piece_bytes]).decode()
                audio: dict[str, Any] = {"data": piece}
                if first:
                    audio["id"] = "audio_test_1"
                    first = False
                if i == self.piece_bytes * 2:
                    audio["transcript"] = " ".join(words[len(words) // 2:])
                yield chunk({"audio": audio})
                self.audio_bytes_sent[index] = i + len(self.reply_pcm[i:i + self.piece_bytes])
                await asyncio.sleep(self.piece_delay_s)
            yield chunk({}, finish_reason="stop")
            yield chunk({"audio": {"expires_at": int(time.time()) + 3600}})
            usage = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 0,
                     "model": "test", "choices": [],
                     "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}}
            yield f"data: {json.dumps(usage)}\n\n".encode()
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    def __enter__(self) -> "ReplyServer":
        app = Starlette(routes=[Route("/v1/chat/completions", self._chat, methods=["POST"])])
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        daemon=True)
        self._thread.start()
        while not self._server.started:
            time.sleep(0.01)
        return self

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.should_exit = True
        self._thread.join(timeout=10)


def marked_reply(speech_24k: np.ndarray) -> np.ndarray:
    """Speech followed by a 60 ms 1 kHz burst: a marker that is easy to find at the end."""
    t = np.arange(int(0.06 * 24000)) / 24000
    burst = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    return np.concatenate([speech_24k, np.zeros(2400, np.float32), burst]).astype(np.float32)
