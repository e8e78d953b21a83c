"""The HTTP edge: POST ``/chat/completions`` and hand back decoded stream events.

This module only moves bytes. Decoding is :class:`voicebot.protocol.stream.ChunkDecoder`,
retry rules are :mod:`voicebot.session.retry`; httpx exceptions are mapped into
:mod:`voicebot.errors` here and nowhere else.

One :class:`ChatClient` per session holds one pooled ``httpx.AsyncClient``, so the
second turn reuses the first turn's keep-alive connection. Everything runs on the
event loop thread of the caller.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from voicebot import errors
from voicebot.aio import within
from voicebot.protocol.events import AudioDelta, Done, ServerError, StreamEvent
from voicebot.protocol.request import encode_request
from voicebot.protocol.stream import ChunkDecoder, decode_response
from voicebot.session import retry

__all__ = ["ChatClient", "StreamStats", "new_http_pool"]

log = logging.getLogger(__name__)

# An error body is a short JSON object or an HTML page from a proxy; more is noise.
_ERROR_BODY_LIMIT = 64 * 1024
# After [DONE], read the rest of the body (normally just the chunked terminator) for
# at most this long so the connection stays reusable; then give up on reuse.
_DRAIN_AFTER_DONE_S = 1.0

Sleep = Callable[[float], Awaitable[Any]]


@dataclass
class StreamStats:
    """What happened during one :meth:`ChatClient.stream` call; filled in as it runs.

    Times are ``clock()`` readings (monotonic seconds), taken at the socket edge.
    Pass a fresh instance per call and read it during or after the stream.
    """
    attempts: int = 0
    request_sent: float | None = None  # first attempt
    first_byte: float | None = None  # first body byte of the attempt that answered
    first_audio: float | None = None  # first decoded audio delta
    done: float | None = None  # stream complete (or failed)
    status_code: int | None = None
    request_id: str | None = None
    retry_waits_s: list[float] = field(default_factory=list)


class ChatClient:
    """Sends chat-completions requests; one instance per session, used from one loop.

    ``connect_timeout_s`` bounds connecting; ``stall_timeout_s`` bounds the silence
    between any two bytes (headers included). Retries (at most ``max_retries``)
    happen only before the first byte of a body arrived. ``sleep``, ``clock``,
    ``wall_clock`` and ``jitter`` are injectable so tests neither wait nor guess.
    ``connect_hint``: what a user can do when the server cannot be reached (appended
    to that error's line). ``http``: a connection pool (:func:`new_http_pool`) shared by many clients, e.g.
    every conversation of a bridge; by default the client makes its own. Call
    :meth:`aclose` (or use ``async with``) when the session ends.
    """

    def __init__(self, base_url: str, api_key: str | None = None, *,
                 connect_timeout_s: float = 5.0, stall_timeout_s: float = 20.0,
                 max_retries: int = 2, sleep: Sleep = asyncio.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time,
                 jitter: Callable[[], float] = random.random,
                 http: httpx.AsyncClient | None = None,
                 connect_hint: str | None = None) -> None:
        try:
            base = httpx.URL(base_url)
            # Join on the path so a query (Azure's api-version=) stays a query.
            url = base.copy_with(path=base.path.rstrip("/") + "/chat/completions")
        except httpx.InvalidURL as exc:
            raise errors.ConfigError(f"bad API base URL: {exc}") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise errors.ConfigError("the API base URL must start with http:// or https://")
        self._redact = errors.Redactor(api_key)
        self._url = url
        # What messages show: no userinfo, no query (Azure puts api-key= there).
        self.display_url = str(url.copy_with(username=None, password=None, query=None))
        self._stall_timeout_s = stall_timeout_s
        self._connect_hint = connect_hint
        self._max_retries = max_retries
        self._sleep = sleep
        self._clock = clock
        self._wall_clock = wall_clock
        self._jitter = jitter
        # Per request, not on the pool: a pool shared by many conversations may carry
        # requests made with different keys.
        self._headers = {"User-Agent": "voicebot/0.1", "Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._timeout = httpx.Timeout(connect=connect_timeout_s, read=stall_timeout_s,
                                      write=stall_timeout_s, pool=connect_timeout_s)
        self._owns_http = http is None
        self._http = http if http is not None else new_http_pool(
            connect_timeout_s=connect_timeout_s, stall_timeout_s=stall_timeout_s)

    def __repr__(self) -> str:
        return f"ChatClient({self.display_url!r})"

    async def __aenter__(self) -> ChatClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the pooled connections (unless the pool was given: its owner does). Loop thread."""
        if self._owns_http:
            await self._http.aclose()

    def stream(self, body: dict[str, Any], *, stats: StreamStats | None = None,
               may_retry: Callable[[], bool] | None = None
               ) -> AsyncGenerator[StreamEvent, None]:
        """POST ``body`` (built with ``stream=True``) and yield its events as they arrive.

        Iterate it inside ``contextlib.aclosing`` (or to the end): leaving early or
        cancelling the consuming task closes the HTTP stream at once. Raises
        :class:`~voicebot.errors.APIStatusError` for a non-2xx answer,
        :class:`~voicebot.errors.APIStreamError` for an error event (after yielding
        every event before it), :class:`~voicebot.errors.StallTimeout`,
        :class:`~voicebot.errors.StreamCut`, :class:`~voicebot.errors.ConnectError`,
        :class:`~voicebot.errors.TransportError` (connection lost before an answer) or
        :class:`~voicebot.errors.ProtocolError` (undecodable body).
        ``may_retry()`` is asked before each retry; return False once audio plays.
        """
        return self._exchange(encode_request(body), "text/event-stream", self._read_sse,
                              stats if stats is not None else StreamStats(), may_retry)

    async def complete(self, body: dict[str, Any], *,
                       stats: StreamStats | None = None) -> list[StreamEvent]:
        """POST ``body`` with ``stream: false`` and return the decoded events of the answer.

        Raises the same errors as :meth:`stream` (an error event becomes
        :class:`~voicebot.errors.APIStreamError`).
        """
        body = {key: value for key, value in body.items() if key != "stream_options"}
        body["stream"] = False
        stats = stats if stats is not None else StreamStats()
        audio = body.get("audio")
        audio_format = audio.get("format", "pcm16") if isinstance(audio, dict) else "pcm16"

        async def read_json(response: httpx.Response,
                            stats: StreamStats) -> AsyncIterator[StreamEvent]:
            data = await response.aread()
            stats.first_byte = self._clock()
            try:
                answer = json.loads(data)
            except ValueError as exc:
                raise errors.ProtocolError(f"{self.display_url}: the answer is not JSON "
                                           f"({exc})") from None
            for event in decode_response(answer, audio_format=audio_format):
                yield self._checked(event, stats)

        return [event async for event in
                self._exchange(encode_request(body), "application/json", read_json,
                               stats, None)]

    # -- the retry loop --------------------------------------------------------------

    async def _exchange(self, content: bytes, accept: str,
                        reader: Callable[[httpx.Response, StreamStats],
                                         AsyncIterator[StreamEvent]],
                        stats: StreamStats,
                        may_retry: Callable[[], bool] | None
                        ) -> AsyncGenerator[StreamEvent, None]:
        try:
            while True:
                stats.attempts += 1
                if stats.request_sent is None:
                    stats.request_sent = self._clock()
                try:
                    async with self._http.stream("POST", self._url, content=content,
                                                 headers={**self._headers, "Accept": accept},
                                                 timeout=self._timeout) as response:
                        stats.status_code = response.status_code
                        stats.request_id = response.headers.get("x-request-id")
                        if response.is_success:
                            async for event in reader(response, stats):
                                yield event
                            return
                        wait = await self._wait_or_raise_status(response, stats, may_retry)
                except httpx.HTTPError as exc:
                    wait = self._wait_or_raise_transport(exc, stats, may_retry)
                stats.retry_waits_s.append(wait)
                await self._sleep(wait)
        finally:
            if stats.done is None:  # failed or abandoned: still a time to report
                stats.done = self._clock()

    async def _wait_or_raise_status(self, response: httpx.Response, stats: StreamStats,
                                    may_retry: Callable[[], bool] | None) -> float:
        """Seconds to wait before retrying a non-2xx answer, or raise its error."""
        error = await self._status_error(response)
        if not (retry.should_retry_status(response.status_code, response.headers)
                and self._may_retry(stats, may_retry)):
            raise error
        wait = retry.retry_delay_s(stats.attempts - 1, response.headers,
                                   now_epoch_s=self._wall_clock(), jitter=self._jitter())
        log.info("%s; retrying in %.2f s", error, wait)
        return wait

    def _wait_or_raise_transport(self, exc: httpx.HTTPError, stats: StreamStats,
                                 may_retry: Callable[[], bool] | None) -> float:
        """Seconds to wait before retrying after a transport failure, or raise it mapped."""
        error = self._map_error(exc, stats)
        if not (stats.first_byte is None and _is_retryable(exc)
                and self._may_retry(stats, may_retry)):
            raise error from None
        wait = retry.backoff_s(stats.attempts - 1, self._jitter())
        log.info("%s; retrying in %.2f s", error, wait)
        return wait

    def _may_retry(self, stats: StreamStats, may_retry: Callable[[], bool] | None) -> bool:
        return stats.attempts <= self._max_retries and (may_retry is None or may_retry())

    # -- body readers ------------------------------------------------------------------

    async def _read_sse(self, response: httpx.Response,
                        stats: StreamStats) -> AsyncIterator[StreamEvent]:
        decoder = ChunkDecoder()
        chunks = response.aiter_bytes()
        async for chunk in chunks:
            if not chunk:
                continue
            if stats.first_byte is None:
                stats.first_byte = self._clock()
            for event in decoder.feed(chunk):
                yield self._checked(event, stats)
            if decoder.saw_done:
                await _drain(chunks)
                return
        for event in decoder.end():
            yield self._checked(event, stats)
        if not decoder.complete:
            raise errors.StreamCut(f"{self.display_url}: the stream ended before the reply "
                                   "was complete")

    def _checked(self, event: StreamEvent, stats: StreamStats) -> StreamEvent:
        """Record timing for ``event``; raise instead of passing an error event on."""
        if isinstance(event, ServerError):
            raise errors.APIStreamError(self._redact(event.message), type=event.type, code=event.code,
                                        param=event.param)
        if isinstance(event, AudioDelta) and stats.first_audio is None:
            stats.first_audio = self._clock()
        elif isinstance(event, Done):
            stats.done = self._clock()
        return event

    # -- error mapping -------------------------------------------------------------------

    async def _status_error(self, response: httpx.Response) -> errors.APIStatusError:
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) >= _ERROR_BODY_LIMIT:
                break
        message, kind, code, param = _error_fields(bytes(body), response.reason_phrase)
        return errors.APIStatusError(
            response.status_code, self._redact(message), type=kind, code=code, param=param,
            retry_after_s=retry.server_wait_s(response.headers, self._wall_clock()))

    def _map_error(self, exc: httpx.HTTPError, stats: StreamStats) -> errors.VoicebotError:
        reason = self._redact(str(exc) or type(exc).__name__)
        where = self.display_url
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
            hint = f" — {self._connect_hint}" if self._connect_hint else ""
            return errors.ConnectError(f"cannot connect to {where}: {reason}{hint}")
        if isinstance(exc, (httpx.ReadTimeout, httpx.WriteTimeout)):
            return errors.StallTimeout(f"{where}: no data for {self._stall_timeout_s:g} s")
        if isinstance(exc, httpx.DecodingError):
            return errors.ProtocolError(f"{where}: undecodable response body: {reason}")
        if stats.first_byte is not None:
            return errors.StreamCut(f"{where}: the connection broke mid-reply: {reason}")
        return errors.TransportError(f"{where}: the connection broke before an answer: "
                                     f"{reason}")


def new_http_pool(*, connect_timeout_s: float = 5.0, stall_timeout_s: float = 20.0,
                  max_connections: int = 200) -> httpx.AsyncClient:
    """A keep-alive connection pool for :class:`ChatClient`; one may serve many clients.

    Close it with ``await pool.aclose()`` when the last client is done. Loop thread.
    """
    return httpx.AsyncClient(
        timeout=httpx.Timeout(connect=connect_timeout_s, read=stall_timeout_s,
                              write=stall_timeout_s, pool=connect_timeout_s),
        limits=httpx.Limits(max_connections=max_connections,
                            max_keepalive_connections=max_connections),
        follow_redirects=False,
    )


def _is_retryable(exc: httpx.HTTPError) -> bool:
    # A stall before the answer is not retried: the user has already waited the whole
    # stall timeout, and an overloaded server answers 429/503, which are retried.
    return isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout,
                            httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError))


async def _drain(chunks: AsyncIterator[bytes]) -> None:
    async def rest() -> None:
        async for _ in chunks:
            pass
    try:
        await within(rest(), _DRAIN_AFTER_DONE_S)
    except (asyncio.TimeoutError, httpx.HTTPError):
        pass  # the reply is whole; the connection just won't be reused


def _error_fields(body: bytes, reason_phrase: str) -> tuple[str, str | None, str | None,
                                                            str | None]:
    """(message, type, code, param) from an error body: the API's JSON or a short text."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, str):
            return _one_line(err), None, None, None
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            def opt(key: str) -> str | None:
                value = err.get(key)
                return None if value is None else str(value)
            return _one_line(err["message"]), opt("type"), opt("code"), opt("param")
    return _one_line(text) or reason_phrase or "no details", None, None, None


def _one_line(text: str, limit: int = 200) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
