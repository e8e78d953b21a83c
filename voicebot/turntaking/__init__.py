"""The turn-taking core (sans-I/O) and its records: who speaks when, for every transport.

- :mod:`.core`: :class:`TurnTaking`, fed inputs with the time, answering outputs.
- :mod:`.inputs`: what drivers feed it, and the commands it answers.
- :mod:`.events`: the event records (``--json``, the bridge, the kiosk screen).
- :mod:`.policy`: half-duplex, barge-in, backchannels, wake word, push-to-talk as data.
- :mod:`.latency`: each turn's latency by stage, and the conversation's summary.

Importing this package loads no I/O library (asyncio, httpx, sounddevice, soxr,
webrtcvad, starlette, uvicorn, websockets); ``tests/test_imports.py`` checks it.
"""

from __future__ import annotations

from .core import Output, TurnTaking
from .events import EVENT_TYPES, LATENCY_STAGES, Event
from .inputs import Command, Input
from .policy import Policy

__all__ = ["TurnTaking", "Output", "Policy", "Event", "EVENT_TYPES", "LATENCY_STAGES",
           "Command", "Input"]
