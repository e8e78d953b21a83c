"""Turn-taking policies as data: who may speak when, for each kind of driver.

One frozen :class:`Policy` describes half-duplex, barge-in (minimum speech, grace),
backchannels, wake-word gating and push-to-talk; the core has one code path and
reads these numbers. Durations are milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError

__all__ = ["Policy"]


@dataclass(frozen=True)
class Policy:
    """How one conversation takes turns.

    - ``mute_while_replying``: half-duplex. Capture is muted from the start of a turn
      until its reply has played (a microphone that hears the speaker must not
      answer the assistant's own voice).
    - ``barge_in``: speech over an audible reply interrupts it once it has lasted
      ``barge_in_ms`` (counted from the later of the speech's detection and the
      reply's first sound + ``barge_in_grace_ms``). The history keeps what was heard.
    - ``backchannel_ms``: with barge-in, an utterance over the reply whose speech is
      shorter than this ("mm-hmm") neither interrupts nor becomes a turn. 0: every
      such utterance is answered after the reply.
    - ``wake_word``: utterances count only after a :class:`~.inputs.WakeWord`, or
      within ``follow_up_ms`` after a reply ended. A wake word said alone (less than
      ``command_min_ms`` of speech after it: "hey jarvis." [the earcon] "what time
      is it?") is no turn: the question is the next utterance if it begins within
      ``command_wait_ms``; a wake word no utterance has begun to take by then expires.
    - ``push_to_talk``: utterances count only while the talk button is held.
    - ``pace_transcript``: release the assistant's words as the listener hears them
      (a speaker); False: as they arrive (files, no audio).
    - ``earcons``: ask for short sounds on wake, thinking, done, error, timer.
    - ``max_turns``: stop after this many turns (None: no limit).
    - ``preemptive``: when the capture reports a pause in the user's speech
      (:class:`~voicebot.capture.segmenter.SpeechPaused`) and nothing else is going
      on, send the utterance so far at once (a preemptive turn); if the pause ends
      the utterance, that answer, already on its way, is the turn; if speech
      resumes, it is discarded unheard and unrecorded. Costs one extra request per
      pause that was not the end. Not with ``wake_word`` or ``push_to_talk``.
    - ``vad_tail_ms``: trailing silence the VAD keeps in an utterance: the end of
      speech is this much before the utterance's end (for latency figures).
    """

    mute_while_replying: bool = False
    barge_in: bool = False
    barge_in_ms: int = 500
    barge_in_grace_ms: int = 0
    backchannel_ms: int = 0
    wake_word: bool = False
    follow_up_ms: int = 5000
    command_wait_ms: int = 5000
    command_min_ms: int = 250
    push_to_talk: bool = False
    pace_transcript: bool = True
    earcons: bool = False
    max_turns: int | None = None
    vad_tail_ms: int = 200
    strip_ssml: bool = False
    preemptive: bool = False

    def __post_init__(self) -> None:
        for name in ("barge_in_ms", "barge_in_grace_ms", "backchannel_ms", "follow_up_ms",
                     "command_wait_ms", "command_min_ms", "vad_tail_ms"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0")
        if self.max_turns is not None and self.max_turns < 1:
            raise ConfigError("max_turns must be at least 1")
        if self.barge_in and self.mute_while_replying:
            raise ConfigError("barge-in needs capture that keeps listening while a reply "
                              "plays (not muted)")
