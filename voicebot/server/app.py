"""The local API server's HTTP layer (Starlette): routes, auth, body limit, error bodies.

Thin on purpose: it reads the body, hands it to :func:`.validate.parse_request` and
:func:`.completion.complete`, and turns ``voicebot.errors`` into the API's
``{"error": {"message", "type", "param", "code"}}`` bodies. Handlers run on the
server's event loop.

Routes: ``GET /healthz`` (no auth), ``GET /openapi.yaml`` (no auth: the spec is public),
``POST /chat/completions``, ``GET /models`` and ``GET /models/{id}`` (``Authorization:
Bearer KEY`` when the server has a key). The API routes are served both bare and under
``/v1``, where OpenAI's SDKs and every OpenAI-compatible server put them.
"""

from __future__ import annotations

import contextlib
import functools
import hmac
import logging
import threading
from collections.abc import AsyncIterator, Callable

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..errors import InputError, Redactor, RequestError, VoicebotError
from ..errors import redact as redact_patterns
from .access import AccessLog, timing_of
from .chunks import error_body
from .completion import ServerState, complete
from .negotiate import accepts_event_stream
from .spec import spec_text
from .validate import MAX_BODY_BYTES, parse_request

__all__ = ["create_app", "MODEL_ID"]

#: The model this server offers (``GET /models``). Requests may name any model: the
#: answer is the same, and the response echoes the name sent.
MODEL_ID = "voicebot-local"

log = logging.getLogger("voicebot.server")


def _error(status: int, message: str, *, type: str = "invalid_request_error",
           param: str | None = None, code: str | None = None,
           headers: dict[str, str] | None = None,
           redact: Callable[[str], str] = redact_patterns) -> JSONResponse:
    return JSONResponse(error_body(redact(message), type=type, param=param, code=code),
                        status_code=status, headers=headers)


def create_app(*, api_key: str | None = None, state: ServerState | None = None,
               max_body_bytes: int = MAX_BODY_BYTES, warm_up: bool = True) -> Starlette:
    """A new server app with its own state (audio store, timers, engines).

    ``api_key``: when set, ``POST /chat/completions`` needs ``Authorization: Bearer KEY``.
    ``warm_up``: load the speech engines in a background thread at startup so the first
    request does not wait for them.
    """
    redact = Redactor(api_key)  # this server's key never appears in what it answers
    fail = functools.partial(_error, redact=redact)
    st = state if state is not None else ServerState()
    expected = f"Bearer {api_key}".encode() if api_key else None
    model = {"id": MODEL_ID, "object": "model", "created": int(st.clock()),
             "owned_by": "voicebot"}

    def refused(request: Request) -> Response | None:
        """A 401 response when the server has a key and the request does not carry it."""
        if expected is None:
            return None
        given = request.headers.get("authorization", "").encode("latin-1", "replace")
        if hmac.compare_digest(given, expected):
            return None
        return fail(401, "missing or invalid API key; send 'Authorization: Bearer "
                      "<key>'", code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def openapi(request: Request) -> Response:
        return Response(spec_text(), media_type="application/yaml")

    async def models(request: Request) -> Response:
        return refused(request) or JSONResponse({"object": "list", "data": [model]})

    async def one_model(request: Request) -> Response:
        denied = refused(request)
        if denied is not None:
            return denied
        name = request.path_params["model"]
        if name != MODEL_ID:
            return fail(404, f"the model {name!r} does not exist; this server offers "
                          f"{MODEL_ID!r}", param="model", code="model_not_found")
        return JSONResponse(model)

    async def chat_completions(request: Request) -> Response:
        denied = refused(request)
        if denied is not None:
            return denied
        # No "stream" in the body: the spec's default (stream) unless the client's Accept
        # rules out an event stream, as OpenAI's SDKs' plain create() does.
        stream_default = accepts_event_stream(request.headers.get("accept"))
        try:
            body = await _read_body(request, max_body_bytes)
            result = await complete(parse_request(body, stream_default=stream_default), st,
                                    timing=timing_of(request.scope))
        except RequestError as exc:
            return fail(exc.status_code, str(exc), param=exc.param, code=exc.code)
        except InputError as exc:
            return fail(400, str(exc))
        except ClientDisconnect:
            return Response(status_code=499)
        except VoicebotError as exc:
            log.warning("request failed: %s", exc)
            return fail(500, str(exc), type="server_error")
        if isinstance(result, dict):
            return JSONResponse(result)
        return StreamingResponse(result, media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache",
                                          "X-Accel-Buffering": "no"})

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = {404: f"no route {request.url.path}",
                   405: f"method {request.method} is not allowed on {request.url.path}"}
        return fail(exc.status_code, message.get(exc.status_code, str(exc.detail)),
                      headers=dict(exc.headers or {}))

    async def server_error(request: Request, exc: Exception) -> Response:
        # A bug, not bad input: logged once with its type, body kept generic.
        log.error("unexpected %s serving %s", type(exc).__name__, request.url.path,
                  exc_info=exc)
        return fail(500, "internal server error", type="server_error")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if warm_up:
            threading.Thread(target=_warm, args=(st,), name="voicebot-warm-up",
                             daemon=True).start()
        try:
            yield
        finally:
            # The recogniser's worker processes end with the server that started them.
            await anyio.to_thread.run_sync(st.engines.close)

    routes = [Route("/healthz", healthz, methods=["GET"]),
              Route("/openapi.yaml", openapi, methods=["GET"])]
    for prefix in ("", "/v1"):
        routes += [Route(f"{prefix}/chat/completions", chat_completions, methods=["POST"]),
                   Route(f"{prefix}/models", models, methods=["GET"]),
                   Route(f"{prefix}/models/{{model:path}}", one_model, methods=["GET"])]
    app = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(AccessLog)],
                    exception_handlers={HTTPException: http_error, Exception: server_error})
    app.state.voicebot = st
    return app


def _warm(state: ServerState) -> None:
    try:
        state.engines.warm_up()
    except VoicebotError as exc:  # the first request will report it properly
        log.warning("speech engines not ready: %s", exc)
    except ImportError as exc:
        log.warning("speech engine missing: %s", exc)


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, or a 413 ``RequestError`` as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise RequestError("Content-Length header is not a number", code="invalid_header")
        if int(declared) > limit:
            raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> RequestError:
    return RequestError(f"request body is larger than the limit of {limit // (1024 * 1024)} MiB",
                        code="request_too_large", status_code=413)


