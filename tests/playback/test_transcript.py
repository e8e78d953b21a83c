"""TranscriptPacer: proportional release of text as audio plays.

Expected prefixes are computed here from the rule (``floor(chars * played / audio)``
of the text received so far), never taken from the pacer.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from voicebot.playback.transcript import TranscriptPacer

TEXT = "Hello there, how can I help you today?"


def due(text: str, audio: int, played: int) -> int:
    return len(text) if played >= audio else len(text) * played // audio


def test_releases_text_in_proportion_to_played_audio() -> None:
    p = TranscriptPacer()
    p.feed_text(TEXT)
    p.feed_audio(4800)
    p.end_of_stream()
    printed = ""
    for played in range(0, 4801, 240):
        printed += p.advance(played)
        assert printed == TEXT[:due(TEXT, 4800, played)]
    assert printed == TEXT and p.done


def test_text_ahead_of_audio_is_held_back() -> None:
    p = TranscriptPacer()
    p.feed_text(TEXT)                   # the whole transcript arrives first
    assert p.advance(0) == ""           # no audio yet: nothing is due
    p.feed_audio(1000)
    assert p.advance(500) == TEXT[:len(TEXT) * 500 // 1000]
    p.feed_audio(3000)                  # more audio: the same text spreads over more time
    assert p.advance(600) == ""         # never takes back what was printed
    p.end_of_stream()
    rest = p.advance(4000)
    assert TEXT[:len(TEXT) * 500 // 1000] + rest == TEXT


def test_everything_is_printed_once_the_audio_has_played() -> None:
    p = TranscriptPacer()
    p.feed_text("one ")
    p.feed_audio(100)
    assert p.advance(100) == "one "
    p.feed_text("two")
    p.end_of_stream()
    assert p.advance(100) == "two" and p.done
    assert p.advance(100) == ""


def test_reply_without_audio_prints_whole_at_the_end() -> None:
    p = TranscriptPacer()
    p.feed_text(TEXT)
    assert p.advance(0) == ""
    p.end_of_stream()
    assert p.advance(0) == TEXT and p.done


def test_flush_returns_the_rest() -> None:
    p = TranscriptPacer()
    p.feed_text(TEXT)
    p.feed_audio(1000)
    head = p.advance(250)
    assert head + p.flush() == TEXT and p.flush() == ""


def _printed_at(pieces: list[str], checkpoints: list[int]) -> list[str]:
    p = TranscriptPacer()
    for piece in pieces:
        p.feed_text(piece)
    p.feed_audio(1000)
    p.end_of_stream()
    return [p.advance(c) for c in checkpoints]


def test_text_chunking_does_not_change_what_is_printed() -> None:
    checkpoints = [0, 1, 99, 250, 251, 600, 999, 1000]
    whole = _printed_at([TEXT], checkpoints)
    assert "".join(whole) == TEXT
    assert _printed_at(list(TEXT), checkpoints) == whole
    for cut in range(len(TEXT) + 1):
        assert _printed_at([TEXT[:cut], TEXT[cut:]], checkpoints) == whole


events = st.lists(st.one_of(
    st.tuples(st.just("text"), st.text(max_size=8)),
    st.tuples(st.just("audio"), st.integers(0, 500)),
    st.tuples(st.just("play"), st.integers(0, 500))), max_size=40)


@settings(max_examples=200, deadline=None)
@given(script=events)
def test_pacing_properties(script: list[tuple[str, object]]) -> None:
    p = TranscriptPacer()
    text, audio, played, printed = "", 0, 0, ""
    for kind, value in script:
        if kind == "text":
            assert isinstance(value, str)
            p.feed_text(value)
            text += value
        elif kind == "audio":
            assert isinstance(value, int)
            p.feed_audio(value)
            audio += value
        else:
            assert isinstance(value, int)
            played = min(audio, played + value)   # can only play what arrived
            before = len(printed)
            printed += p.advance(played)
            # a prefix of the text; exactly up to the proportional position, and never
            # taking back what was printed before more audio stretched the mapping
            assert text.startswith(printed)
            expected = due(text, audio, played) if audio else 0
            assert len(printed) == max(before, expected)
    p.end_of_stream()
    printed += p.advance(audio)
    assert printed == text and p.done
