"""What the capture stage tells the event loop: :class:`CaptureReport`. Pure data.

Kept apart from ``mic.py`` so that the capture worker (``worker.py``), which makes
the reports on its own thread, and ``mic.py``, which starts it, both import it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .events import Event

__all__ = ["CaptureReport"]


@dataclass(frozen=True)
class CaptureReport:
    """What the capture stage tells the event loop: a detector event, or progress.

    ``event`` is a detector event, or None for a progress report: one comes after
    every captured block while the segmenter is inside speech (between
    ``SpeechStarted`` and its end) and none in silence, so a silent room wakes the
    loop for nothing while barge-in can still measure how long the user has spoken.
    ``position`` is the detector's position (16 kHz samples fed, muted ones
    included) when the report was made; ``at`` is the monotonic time (seconds,
    ``time.monotonic``'s clock) at which the sample at ``position`` was captured.
    ``voiced_end``: inside speech, where its last voiced frame ended (how long the
    user has really spoken, the hang-over's silence not counted); else None.
    """

    event: Event | None
    position: int
    at: float
    voiced_end: int | None = None
