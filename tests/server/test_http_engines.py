"""The server's use of its engines: input audio decoding, pluggable recogniser, cancelling
synthesis when the client goes away. Real servers on loopback; real eSpeak NG."""

from __future__ import annotations

import base64
import io
import time

import httpx
import numpy as np
import pytest

from serverhelp import collect, sse_events
from speech import synth
from voicebot.audio.wav import encode_wav
from voicebot.server.completion import Engines, ServerState
from voicebot.server.serve import start_embedded
from voicebot.speech.synth import Synthesizer


class RecordingRecognizer:
    """A recogniser a user might plug in; records what the server hands it."""

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.calls: list[tuple[np.ndarray, int]] = []

    def transcribe(self, samples: np.ndarray, sample_rate: int) -> str:
        self.calls.append((samples, sample_rate))
        return self.answer


class CountingSynthesizer:
    def __init__(self) -> None:
        self.inner = Synthesizer()
        self.started = 0
        self.finished = 0

    def synthesize(self, text, *, voice="alloy", ssml=False, cancel=None):
        self.started += 1
        yield from self.inner.synthesize(text, voice=voice, ssml=ssml, cancel=cancel)
        self.finished += 1


def audio_message(data: bytes, fmt: str) -> list[dict]:
    return [{"role": "user", "content": [{"type": "input_audio", "input_audio": {
        "data": base64.b64encode(data).decode(), "format": fmt}}]}]


def test_input_audio_any_rate_and_channels_and_mp3_reach_the_recogniser():
    speech = synth("what is two plus two", 44_100)
    stereo = np.stack([speech, speech], axis=1)
    pcm = (np.clip(stereo, -1, 1) * 32767).astype("<i2").tobytes()
    wav = encode_wav(pcm, 44_100, channels=2)
    from pydub import AudioSegment
    mp3 = io.BytesIO()
    AudioSegment(pcm, frame_rate=44_100, sample_width=2, channels=2).export(mp3, format="mp3")
    rec = RecordingRecognizer("what is two plus two")
    state = ServerState(engines=Engines(recognizer=rec))
    with start_embedded(state=state, warm_up=False) as srv, \
            httpx.Client(base_url=srv.base_url, timeout=30) as c:
        for data, fmt in ((wav, "wav"), (mp3.getvalue(), "mp3")):
            res = collect(sse_events(c, {"messages": audio_message(data, fmt),
                                         "stream_options": {"include_usage": True}}))
            assert res["content"] == f"2 plus 2 is {2 + 2}."
            samples, rate = rec.calls[-1]
            assert rate == 44_100 and samples.ndim == 1
            # mp3 pads with encoder delay; the speech itself is all there.
            assert len(samples) == pytest.approx(len(speech), abs=0 if fmt == "wav" else 4096)
            usage = res["usage"]["prompt_tokens_details"]["audio_tokens"]
            assert usage == pytest.approx(len(speech) / 44_100 * 10, abs=2)


def test_silent_audio_says_nothing_was_heard():
    rec = RecordingRecognizer("")
    with start_embedded(state=ServerState(engines=Engines(recognizer=rec)), warm_up=False) as srv, \
            httpx.Client(base_url=srv.base_url, timeout=30) as c:
        wav = encode_wav(b"\0\0" * 16_000, 16_000)
        res = collect(sse_events(c, {"messages": audio_message(wav, "wav")}))
        assert "didn't catch" in res["content"]


def test_disconnect_cancels_synthesis():
    counting = CountingSynthesizer()
    state = ServerState(engines=Engines(synthesizer=counting))
    n_sentences = 40
    text = "say " + " ".join(f"This is sentence {i} of a long reply." for i in range(n_sentences))
    body = {"messages": [{"role": "user", "content": text}], "modalities": ["text", "audio"],
            "audio": {"voice": "alloy", "format": "pcm16"}}
    with start_embedded(state=state, warm_up=False) as srv, \
            httpx.Client(base_url=srv.base_url, timeout=30) as c:
        with c.stream("POST", "/chat/completions", json=body) as r:
            for line in r.iter_lines():
                if '"data"' in line:
                    break  # first audio arrived: hang up
        deadline = time.monotonic() + 5
        seen = -1
        while time.monotonic() < deadline:  # wait until synthesis stops moving
            time.sleep(0.2)
            if counting.started == seen:
                break
            seen = counting.started
        print("sentences synthesised before the hang-up stopped it:", counting.started)
        assert counting.started < n_sentences / 2, counting.started
        # The server is still fine afterwards.
        res = collect(sse_events(c, {"messages": [{"role": "user", "content": "hello"}]}))
        assert res["finish"] == "stop"


def test_stop_returns_and_frees_the_port():
    srv = start_embedded(warm_up=False)
    port = srv.port
    assert httpx.get(srv.base_url + "/healthz").status_code == 200
    t = time.monotonic()
    srv.stop()
    assert time.monotonic() - t < 3
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz")
    assert not srv._thread.is_alive()


class MeetingRecognizer:
    """Returns only once ``parties`` calls are inside ``transcribe`` at the same time (or
    after ``wait_s``): tells whether the server lets recognitions overlap."""

    def __init__(self, parties: int, wait_s: float = 10) -> None:
        import threading
        self.barrier = threading.Barrier(parties, timeout=wait_s)
        self.met = 0

    def transcribe(self, samples: np.ndarray, sample_rate: int) -> str:
        import threading
        try:
            self.barrier.wait()
            self.met += 1
        except threading.BrokenBarrierError:
            pass
        return "hello"


def test_recognitions_of_different_requests_overlap():
    import threading
    rec = MeetingRecognizer(parties=2)
    wav = encode_wav(b"\0\0" * 1600, 16_000)
    with start_embedded(state=ServerState(engines=Engines(recognizer=rec)),
                        warm_up=False) as srv:
        def ask() -> None:
            with httpx.Client(base_url=srv.base_url, timeout=30) as c:
                r = c.post("/chat/completions", json={"messages": audio_message(wav, "wav"),
                                                      "stream": False})
                assert r.status_code == 200
        threads = [threading.Thread(target=ask) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert rec.met == 2, "the server serialised recognition"


def test_audio_sent_again_is_not_recognised_again():
    """A conversation's requests repeat the last turns' audio (and a tool call's
    follow-up repeats the question): the server recognises each audio file once."""
    first, second = synth("what is two plus two"), synth("what time is it")
    wavs = [encode_wav((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes(), 16_000)
            for x in (first, second)]
    rec = RecordingRecognizer("what is two plus two")
    with start_embedded(state=ServerState(engines=Engines(recognizer=rec)), warm_up=False) as srv, \
            httpx.Client(base_url=srv.base_url, timeout=30) as c:
        sse_events(c, {"messages": audio_message(wavs[0], "wav")})
        assert len(rec.calls) == 1
        history = [*audio_message(wavs[0], "wav"), {"role": "assistant", "content": "4"},
                   *audio_message(wavs[1], "wav")]
        res = collect(sse_events(c, {"messages": history}))
        assert len(rec.calls) == 2 and len(rec.calls[-1][0]) == len(second)
        assert res["content"] == f"2 plus 2 is {2 + 2}."
        sse_events(c, {"messages": history})
        assert len(rec.calls) == 2
