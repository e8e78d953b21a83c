"""A scriptable HTTP/1.1 server on 127.0.0.1 for the session tests.

Hand-written on purpose (a test fixture): every test decides the exact bytes, the
timing, status codes, headers, pauses and cut connections, and can count accepted
connections and see when the client hung up. Requests are answered from a queue of
:class:`Reply` scripts, one per request, on any connection, with keep-alive.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Union


@dataclass(frozen=True)
class Pause:
    """Sleep this long before the next piece."""
    seconds: float


@dataclass(frozen=True)
class Cut:
    """Drop the connection right here (no chunked terminator)."""


@dataclass(frozen=True)
class Hold:
    """Send nothing more; wait (at most ``seconds``) until the client hangs up."""
    seconds: float = 10.0


Piece = Union[bytes, Pause, Cut, Hold]


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    pieces: list[Piece] = field(default_factory=list)
    chunked: bool = True  # False: Content-Length from the byte pieces
    send_head: bool = True  # False: pieces go out raw, e.g. [Cut()] before any answer


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    connection: int  # 1-based number of the connection it came on
    received_at: float  # time.monotonic()

    def json(self) -> Any:
        return json.loads(self.body)


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            408: "Request Timeout", 409: "Conflict", 429: "Too Many Requests",
            500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


class ScriptedServer:
    """``async with ScriptedServer() as server``; queue replies with :meth:`reply`."""

    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.requests: list[Request] = []
        self.connections = 0
        self.hangups: list[float] = []  # time.monotonic() when a Hold saw the client leave
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    def reply(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    async def __aenter__(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        number = self.connections
        try:
            while True:
                request = await _read_request(reader, number)
                if request is None:
                    return
                self.requests.append(request)
                script = self.replies.popleft() if self.replies else Reply(
                    500, pieces=[b'{"error": {"message": "no reply scripted"}}'], chunked=False)
                if not await self._send(script, reader, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        except asyncio.CancelledError:
            # Shutting down. Ending normally, not cancelled, because Python 3.11's
            # start_server callback logs an error for a cancelled handler task.
            return
        finally:
            writer.close()
            self._tasks.discard(task)

    async def _send(self, reply: Reply, reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter) -> bool:
        """Write one reply; False when the connection must end."""
        if not reply.send_head:
            return await self._send_raw(reply.pieces, reader, writer)
        head = [f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Status')}"]
        headers = {"content-type": "text/event-stream" if reply.status == 200
                   else "application/json", **{k.lower(): v for k, v in reply.headers.items()}}
        if reply.chunked:
            headers["transfer-encoding"] = "chunked"
        else:
            headers["content-length"] = str(sum(len(p) for p in reply.pieces
                                                if isinstance(p, bytes)))
        head += [f"{k}: {v}" for k, v in headers.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        pieces = ([b"%x\r\n%s\r\n" % (len(p), p) if isinstance(p, bytes) else p
                   for p in reply.pieces] if reply.chunked else reply.pieces)
        if not await self._send_raw(pieces, reader, writer):
            return False
        if reply.chunked:
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        return True

    async def _send_raw(self, pieces: list[Piece], reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter) -> bool:
        for piece in pieces:
            if isinstance(piece, bytes):
                writer.write(piece)
                await writer.drain()
            elif isinstance(piece, Pause):
                await asyncio.sleep(piece.seconds)
            elif isinstance(piece, Cut):
                writer.transport.abort()
                return False
            elif isinstance(piece, Hold):
                try:
                    await asyncio.wait_for(reader.read(), piece.seconds)
                    self.hangups.append(time.monotonic())
                except asyncio.TimeoutError:
                    pass
                return False
        return True


async def _read_request(reader: asyncio.StreamReader, connection: int) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None  # the client closed an idle keep-alive connection
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Request(method, path, headers, body, connection, time.monotonic())


# -- building stream bodies --------------------------------------------------------


def sse(*chunks: dict[str, Any] | str, done: bool = True) -> bytes:
    """``data:`` events for ``chunks`` (dicts become JSON), then ``[DONE]``."""
    out = [b"data: " + (c if isinstance(c, str) else json.dumps(c)).encode() + b"\n\n"
           for c in chunks]
    if done:
        out.append(b"data: [DONE]\n\n")
    return b"".join(out)


def delta(**fields: Any) -> dict[str, Any]:
    """A chunk with one choice whose delta is ``fields``."""
    finish = fields.pop("finish_reason", None)
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "test",
            "choices": [{"index": 0, "delta": fields, "finish_reason": finish}]}


def finish(reason: str = "stop") -> dict[str, Any]:
    return {"id": "chatcmpl-1", "choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}


def usage_chunk(prompt: int, completion: int) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "choices": [],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                      "total_tokens": prompt + completion}}


def spoken_reply(transcript_pieces: list[str], pcm_pieces: list[bytes], *,
                 audio_id: str = "audio_abc", expires_at: int = 2_000_000_000,
                 usage: tuple[int, int] | None = (10, 20)) -> list[dict[str, Any]]:
    """The chunks of a realistic spoken reply: transcript running ahead of audio."""
    chunks = [delta(role="assistant")]
    chunks += [delta(audio={"transcript": t}) for t in transcript_pieces]
    for i, pcm in enumerate(pcm_pieces):
        audio: dict[str, Any] = {"data": base64.b64encode(pcm).decode()}
        if i == 0:
            audio["id"] = audio_id
        chunks.append(delta(audio=audio))
    chunks.append(finish("stop"))
    chunks.append(delta(audio={"expires_at": expires_at}))
    if usage is not None:
        chunks.append(usage_chunk(*usage))
    return chunks


def split_at(data: bytes, offsets: list[int]) -> list[bytes]:
    """``data`` cut at the given offsets (each piece non-empty)."""
    cuts = sorted({o for o in offsets if 0 < o < len(data)})
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


async def hangup_after_cancel(task: asyncio.Task[Any], server: ScriptedServer) -> float:
    """Cancel ``task`` (it must end cancelled) and wait up to 1 s for ``server`` to see
    the client hang up. Returns the seconds from the cancel to the hang-up (inf if
    it never came)."""
    cancelled_at = time.monotonic()
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    else:
        raise AssertionError("the task finished instead of being cancelled")
    for _ in range(100):
        if server.hangups:
            return server.hangups[0] - cancelled_at
        await asyncio.sleep(0.01)
    return float("inf")
