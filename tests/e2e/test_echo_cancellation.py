"""Echo cancellation in ``voicebot chat`` on the loopback rig: barge-in through speakers.

``module-loopback`` carries the virtual speaker's monitor into the virtual
microphone (40 ms, -10 dB), so ``voicebot chat`` hears its own replies as it would
through a desk speaker. With echo cancellation (``--aec on``), barge-in is on by
default and the microphone stays open while the reply plays:

- a 6 s spoken reply with nobody speaking plays to its end: no interruption, no
  utterance, one request;
- a user who speaks over the reply (eSpeak NG played into the microphone) silences
  the speaker within 300 ms of the speech's onset, the reply's HTTP stream is hung
  up at once, and the next request carries the reply cut to what was heard.

Ground truth comes from outside voicebot: the reply server's script (every word
synthesised alone and placed at a known offset), the injected speech, and two
recordings of the rig — the speaker's monitor (what played, and when it stopped)
and the microphone's (where the user's speech begins). The recordings start at
different moments; the reply, which both hold (the microphone's 40 ms later, as
the loopback is configured), lines them up.
"""

from __future__ import annotations

import contextlib
import queue
import subprocess
import sys
import time

import numpy as np
import pytest
import soxr
from procs import child_env, json_events, until, wait
from replyserver import ReplyServer
from signals import best_lag
from speech import compose
from vdev import MIC_SINK, SpeakerRecorder, play_into_mic, speaker_loopback, write_wav

from voicebot.audio import API_SAMPLE_RATE, float_to_pcm16
from voicebot.capture.aec import aec_available

pytestmark = pytest.mark.skipif(not aec_available(), reason="libspeexdsp1 is not installed")


class LatencyGoalMissed(AssertionError):
    """The speaker went silent, but later than issue 8's 300 ms after the onset."""


#: Issue 8's 300 ms is met most of the time, not always: with echo cancellation speech
#: starts after 120 ms of it, the capture's 60 ms blocks reach the reader in PipeWire's
#: bursts (~65 ms apart with chat's 0.15 s input buffer), and 0-7 ms pass from the
#: decision to silence (the speaker's stream is aborted). On a loaded rig the speaker
#: fell silent 163-312 ms after the onset, over 300 ms in 10 of 163 runs (README,
#: "Barge-in latency and CPU"). Only that last assertion may fail: any other failure
#: fails the test.
LATENCY_NOT_YET = pytest.mark.xfail(strict=False, raises=LatencyGoalMissed,
                                    reason="issue 8: silence 163-312 ms after the onset, "
                                    "over the 300 ms goal in 10 of 163 runs (README)")

RATE = 16_000
LOOPBACK_MS = 40
#: The story the reply server tells, one word at a time (each synthesised alone, so
#: where every word starts in the reply is known to the sample).
REPLY_WORDS = ("once upon a time a keeper lived in a lighthouse far out at sea and every "
               "night he climbed").split()
GAP_S = 0.03
#: The server streams each 100 ms of audio 80 ms after the last: a little faster than
#: real time (as servers do), so the reply is still streaming when it is cut.
PIECE_DELAY_S = 0.08
WPM = 200  # 14 characters a second, as a TTS voice speaks
SILENT = 10 ** (-60 / 20)  # digital silence on the null sink is exactly 0


def _reply() -> tuple[np.ndarray, list[float]]:
    """The reply (24 kHz float32) and each word's start in seconds."""
    parts: list[str | float] = []
    for word in REPLY_WORDS:
        parts += [word, GAP_S]
    audio, truth = compose(parts, API_SAMPLE_RATE, wpm=WPM)
    assert 5.5 < len(audio) / API_SAMPLE_RATE < 8.0, len(audio) / API_SAMPLE_RATE
    return 0.5 * audio / np.abs(audio).max(), [w.start_s for w in truth]


def _chat(server: ReplyServer, max_turns: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "voicebot", "chat", "--aec", "on", "--max-turns", str(max_turns),
         "--json", "-v", "--base-url", server.base_url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())


def _why(stderr: str) -> str:
    """What ``-v`` said of speech that started over a reply: the echo stage's last
    judgements (whether the canceller missed its echo, or heard a talker)."""
    said = [line for line in stderr.splitlines() if "speech started over the reply" in line]
    return "\n".join(["--- voicebot -v, speech over a reply:", *said] if said else [])


def _to16k(x: np.ndarray, rate: int) -> np.ndarray:
    return soxr.resample(x, rate, RATE).astype(np.float32)


def _find(recording: np.ndarray, reference: np.ndarray, lo: int, hi: int) -> tuple[int, float]:
    """Where ``reference`` starts in ``recording``, looking at starts in ``[lo, hi)``."""
    lo = max(0, lo)
    lag, score = best_lag(recording[lo: hi + len(reference)], reference)
    return lo + lag, score


def _first_silence(x: np.ndarray, start: int, min_len: int) -> int:
    """The first sample at or after ``start`` that begins ``min_len`` silent samples."""
    loud = np.flatnonzero(np.abs(x[start:]) > SILENT)
    gaps = np.flatnonzero(np.diff(loud) > min_len)
    if len(gaps) == 0:
        return start + int(loud[-1]) + 1 if len(loud) else start
    return start + int(loud[gaps[0]]) + 1


def test_a_reply_heard_through_the_loopback_plays_to_its_end(audio_devices: None,
                                                             tmp_path) -> None:
    reply, _ = _reply()
    ask, _ = compose([0.3, "tell me a story about the sea", 0.3], RATE)
    ask_wav = str(tmp_path / "ask.wav")
    write_wav(ask_wav, ask, RATE)
    with ReplyServer(float_to_pcm16(reply), " ".join(REPLY_WORDS), piece_delay_s=PIECE_DELAY_S) as server, \
            speaker_loopback(LOOPBACK_MS, -10.0), SpeakerRecorder() as played:
        proc = _chat(server, max_turns=2)
        seen: list[dict] = []
        try:
            events = json_events(proc)
            until(events, seen, lambda e: e["type"] == "listening", 30)
            play_into_mic(ask_wav)
            until(events, seen, lambda e: e["type"] in ("turn.done", "interrupted"), 40)
            # The echo's tail and a whole hang-over after the reply: nobody speaks.
            deadline = time.monotonic() + 2.0
            with contextlib.suppress(queue.Empty):
                while (event := events.get(timeout=max(0.01, deadline - time.monotonic()))):
                    seen.append(event)
                    if time.monotonic() > deadline:
                        break
        finally:
            proc.terminate()
            err = wait(proc, 20)
    kinds = [e["type"] for e in seen]
    cuts = [e for e in seen if e["type"] == "interrupted"]
    assert not cuts, f"the reply interrupted itself: {cuts}\n{_why(err)}"
    assert kinds.count("utterance") == 1, kinds  # the question, nothing of the reply
    assert "utterance.ignored" not in kinds, kinds
    assert len(server.requests) == 1
    assert server.hung_up_at == [None]
    # The speaker played the whole reply: it is all in the recording.
    rec = _to16k(played.samples, played.rate)
    ref = _to16k(reply, API_SAMPLE_RATE)
    start, score = best_lag(rec, ref[: RATE // 2])  # its start (a loaded machine's
    assert score > 0.9, score  # underrun later on would spoil a whole-reply match)
    end = _first_silence(rec, start, RATE // 3)
    assert end - start >= len(ref) - RATE // 20, ((end - start) / RATE, len(ref) / RATE)


@LATENCY_NOT_YET
def test_speaking_over_the_reply_silences_it_within_300_ms(audio_devices: None,
                                                          tmp_path) -> None:
    reply, word_starts = _reply()
    ask, _ = compose([0.3, "tell me a story about the sea", 0.3], RATE)
    over, over_truth = compose([0.2, "wait, what is the weather like today", 0.3], RATE,
                               voice="en-us+f3")
    ask_wav, over_wav = str(tmp_path / "ask.wav"), str(tmp_path / "over.wav")
    write_wav(ask_wav, ask, RATE)
    write_wav(over_wav, over, RATE)
    pcm = float_to_pcm16(reply)
    with ReplyServer(pcm, " ".join(REPLY_WORDS), piece_delay_s=PIECE_DELAY_S) as server, \
            speaker_loopback(LOOPBACK_MS, -10.0), SpeakerRecorder() as played, \
            SpeakerRecorder(source=f"{MIC_SINK}.monitor") as heard:
        proc = _chat(server, max_turns=2)
        seen: list[dict] = []
        try:
            events = json_events(proc, stamp=True)
            until(events, seen, lambda e: e["type"] == "listening", 30)
            play_into_mic(ask_wav)
            # The reply streams in real time: ~3 s of it have played when 3.2 s arrived.
            until(events, seen, lambda e: e["type"] == "audio"
                  and e["total_bytes"] >= int(3.2 * API_SAMPLE_RATE) * 2, 30)
            play_into_mic(over_wav, wait=False)
            cut = until(events, seen, lambda e: e["type"] == "interrupted", 20)
            end = until(events, seen, lambda e: e["type"] in ("turn.done", "interrupted"), 30)
            if end["type"] != "turn.done":
                proc.terminate()
                raise AssertionError(f"the second reply was cut too: {end}\n"
                                     f"{_why(wait(proc, 20))}")
            err = wait(proc, 20)
            print(_why(err))
        finally:
            proc.kill()
    assert proc.returncode == 0, err

    # Where things happened, from the recordings: the reply's start on the speaker,
    # the same reply in the microphone (which lines the two recordings up), the
    # user's first word in the microphone, the speaker's last sound.
    spk = _to16k(played.samples, played.rate)
    mic = _to16k(heard.samples, heard.rate)
    ref = _to16k(reply, API_SAMPLE_RATE)
    # The reply plays twice (turn 2 gets the same script): the first time is the
    # speaker's first sound, and the microphone has it within a second of that.
    first_sound = int(np.flatnonzero(np.abs(spk) > SILENT)[0])
    reply_at_spk, score = _find(spk, ref[: RATE // 2], first_sound - RATE // 2, first_sound + RATE)
    assert score > 0.9, score
    reply_at_mic, score = _find(mic, spk[reply_at_spk: reply_at_spk + 2 * RATE],
                                reply_at_spk - RATE, reply_at_spk + RATE)
    assert score > 0.5, score
    mic_to_spk = reply_at_mic - reply_at_spk - LOOPBACK_MS * RATE // 1000
    said = over[int(over_truth[0].start_s * RATE): int(over_truth[0].end_s * RATE)]
    onset_at_mic, score = best_lag(mic, said)
    assert score > 0.5, score
    onset = onset_at_mic - mic_to_spk  # on the speaker's recording
    silent_at = _first_silence(spk, reply_at_spk, RATE // 3)
    latency_ms = (silent_at - onset) * 1000 / RATE
    heard_s = (silent_at - reply_at_spk) / RATE
    print(f"speech onset {(onset - reply_at_spk) / RATE:.2f} s into the reply; speaker "
          f"silent {latency_ms:.0f} ms later; played {heard_s:.2f} s "
          f"(voicebot says {cut['played_ms']:.0f} ms)")
    assert latency_ms > 0, "the reply was cut before the user spoke: it interrupted itself"

    # The reply's stream was hung up when the reply was cut, not played out.
    assert server.hung_up_at[0] is not None, "the reply's HTTP stream was not hung up"
    assert abs(server.hung_up_at[0] - cut["_read_at"]) < 0.25
    assert server.audio_bytes_sent[0] < len(pcm)

    # The next request: the reply as far as it was heard (words placed by where they
    # start in the reply's audio), never the whole reply's audio id.
    assert len(server.requests) == 2
    history = server.requests[1]["messages"]
    assistant = [m for m in history if m["role"] == "assistant"]
    assert len(assistant) == 1 and "audio" not in assistant[0], assistant
    content = assistant[0]["content"]
    text = content if isinstance(content, str) else "".join(p.get("text", "") for p in content)
    words_heard = sum(1 for s in word_starts if s < heard_s)
    print(f"history keeps {len(text.split())} words ({text!r}); {words_heard} had begun")
    assert abs(len(text.split()) - words_heard) <= 3, (text, words_heard)
    assert " ".join(REPLY_WORDS).startswith(text.strip())

    # Last, the goal not met yet (see the README): silent within 300 ms of the onset.
    if latency_ms > 300:
        raise LatencyGoalMissed(f"the speaker went silent {latency_ms:.0f} ms after the onset")
