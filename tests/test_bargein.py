"""The barge-in decision (pure): table of scenarios, plus properties.

Each scenario is a timeline in milliseconds: when the reply starts playing, when
the detector reports SpeechStarted and when the speech ends. The expected moment of
interruption is derived from the rule itself (speech for ``min_speech_ms``, counted
from max(SpeechStarted, reply start + grace)), never from running the code.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voicebot.bargein import BargeIn, BargeInConfig
from voicebot.capture.segmenter import SpeechStarted, UtteranceDiscarded, UtteranceEnded
from voicebot.errors import ConfigError

RATE = 16_000
BLOCK = 320  # 20 ms capture blocks, as the pipeline ticks


def _pos(ms: int) -> int:
    return ms * RATE // 1000


def run(config: BargeInConfig, *, reply_ms: int | None, speech: list[tuple[int, int | None]],
        end_ms: int = 5_000, end_event: type = UtteranceEnded) -> int | None:
    """Feed a timeline block by block; return the position where it said "interrupt".

    ``speech``: (SpeechStarted at ms, speech ended at ms or None) pairs, in order.
    """
    barge = BargeIn(config)
    events: dict[int, list[object]] = {}  # capture block → the events it completes
    for start, end in speech:
        events.setdefault(_pos(start) // BLOCK, []).append(SpeechStarted(_pos(start)))
        if end is not None:
            events.setdefault(_pos(end) // BLOCK, []).append(
                end_event(_pos(start), _pos(end), "silence") if end_event is UtteranceDiscarded
                else UtteranceEnded(b"", _pos(start), _pos(end), "silence"))
    fired: list[int] = []
    for block in range(_pos(end_ms) // BLOCK):
        position = (block + 1) * BLOCK
        if block == 0:
            barge.arm()
        playing = reply_ms is not None and position >= _pos(reply_ms)
        for ev in events.get(block, []):
            if barge.feed(position, playing=playing, event=ev):  # type: ignore[arg-type]
                fired.append(position)
        if barge.feed(position, playing=playing):
            fired.append(position)
    assert len(fired) <= 1, "interrupts at most once per reply"
    return fired[0] if fired else None


def _block_end(position: int) -> int:
    """The first block boundary at or after ``position`` (the blocks are the clock)."""
    return -(-position // BLOCK) * BLOCK


def _expected(config: BargeInConfig, reply_ms: int, start_ms: int) -> int:
    # An event is seen at the end of the block it falls in; the reply at the first
    # block end at or after its start.
    speech_seen = (_pos(start_ms) // BLOCK + 1) * BLOCK
    reply_seen = max(BLOCK, _block_end(_pos(reply_ms)))
    counted_from = max(speech_seen, reply_seen + _pos(config.grace_ms))
    return _block_end(counted_from + _pos(config.min_speech_ms))


CASES = [
    # id, config, reply_ms, speech [(start, end)], interrupts?
    ("speech during reply", BargeInConfig(), 1000, [(2000, None)], True),
    ("speech long enough then ends", BargeInConfig(), 1000, [(2000, 2600)], True),
    ("too short", BargeInConfig(), 1000, [(2000, 2400)], False),
    ("two short bursts", BargeInConfig(), 1000, [(2000, 2300), (2400, 2800)], False),
    ("speech before reply plays", BargeInConfig(), 1500, [(1000, None)], True),
    ("no reply plays", BargeInConfig(), None, [(1000, None)], False),
    ("grace covers the start", BargeInConfig(grace_ms=1000), 1000, [(1200, None)], True),
    ("ends within grace", BargeInConfig(grace_ms=1000), 1000, [(1200, 1900)], False),
    ("zero threshold", BargeInConfig(min_speech_ms=0), 1000, [(2000, None)], True),
    ("custom threshold", BargeInConfig(min_speech_ms=1200), 1000, [(2000, 3000)], False),
]


@pytest.mark.parametrize("config,reply_ms,speech,interrupts",
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_table(config: BargeInConfig, reply_ms: int | None,
               speech: list[tuple[int, int | None]], interrupts: bool) -> None:
    got = run(config, reply_ms=reply_ms, speech=speech)
    if not interrupts:
        assert got is None
        return
    assert reply_ms is not None
    # The interrupting burst is the last one.
    assert got == _expected(config, reply_ms, speech[-1][0])


def test_discarded_speech_does_not_count() -> None:
    assert run(BargeInConfig(), reply_ms=500, speech=[(1000, 1400)],
               end_event=UtteranceDiscarded) is None


def test_not_armed_never_interrupts() -> None:
    barge = BargeIn()
    assert not barge.feed(0, playing=True, event=SpeechStarted(0))
    assert not any(barge.feed(p, playing=True) for p in range(0, 5 * RATE, BLOCK))


def test_disarm_then_arm_starts_a_new_reply() -> None:
    barge = BargeIn()
    barge.arm()
    barge.feed(0, playing=True)
    barge.feed(BLOCK, playing=True, event=SpeechStarted(0))
    fired = [p for p in range(2 * BLOCK, RATE, BLOCK) if barge.feed(p, playing=True)]
    assert fired == [BLOCK + _pos(500)]
    barge.disarm()
    assert not barge.feed(RATE, playing=True)
    barge.arm()  # the user is still speaking when the next reply starts playing
    start = 2 * RATE
    fired = [p for p in range(start, 4 * RATE, BLOCK) if barge.feed(p, playing=True)]
    assert fired == [start + _pos(500)]


def test_negative_settings_rejected() -> None:
    with pytest.raises(ConfigError):
        BargeInConfig(min_speech_ms=-1)
    with pytest.raises(ConfigError):
        BargeInConfig(grace_ms=-5)


@given(reply=st.integers(0, 3000), start=st.integers(0, 4000), length=st.integers(0, 2000),
       min_ms=st.integers(0, 1500), grace=st.integers(0, 1500))
def test_never_before_the_rule_allows(reply: int, start: int, length: int, min_ms: int,
                                      grace: int) -> None:
    config = BargeInConfig(min_speech_ms=min_ms, grace_ms=grace)
    got = run(config, reply_ms=reply, speech=[(start, start + length)], end_ms=8000)
    if got is not None:
        assert got >= _pos(reply) + _pos(grace) + _pos(min_ms)
        assert got >= _pos(start) + _pos(min_ms)
        assert got <= _pos(start + length) + BLOCK  # never after the speech ended
