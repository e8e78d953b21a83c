"""The browser page, for real, in both browsers the issue names: Debian's headless
Chromium (driven by Playwright; its fake microphone plays an espeak question from a
file, --use-file-for-fake-audio-capture) and Debian's headless Firefox ESR (driven over
WebDriver BiDi, bidi.py; the question is played into the PipeWire virtual microphone,
the system's default source, which Firefox captures like any microphone). Each loads
the page from a running bridge; one test body checks that the question reaches the
upstream whole, the reply's words appear in #transcript, and the page's playback
worklet played the whole reply (its sample count and a hash of what it played)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import shutil
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bidi import firefox
from bridgehelp import REPLY_TEXT, running_bridge
from speech import compose
from vdev import play_into_mic, write_wav

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FIREFOX = shutil.which("firefox-esr") or "/usr/bin/firefox-esr"
# No permission prompt for the microphone (as Chromium's --use-fake-ui-for-media-stream).
# Nothing loosens the autoplay policy: audio starts because the test clicks Talk as a
# person does (a pointer click through the browser's input pipeline, bidi.py).
FIREFOX_PREFS = {"media.navigator.permission.disabled": True}


def chromium_args(wav: Path) -> list[str]:
    return ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run",
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}%noloop",
            "--autoplay-policy=no-user-gesture-required"]


def fnv1a16(pcm: bytes) -> int:
    """The playback worklet's hash: FNV-1a over 16-bit samples."""
    h = 2166136261
    for s in np.frombuffer(pcm, "<i2").astype(np.int64) & 0xFFFF:
        h = ((h ^ int(s)) * 16777619) & 0xFFFFFFFF
    return h


def wav_samples(data: bytes) -> tuple[np.ndarray, int]:
    with wave.open(io.BytesIO(data)) as w:
        pcm = w.readframes(w.getnframes())
        return np.frombuffer(pcm, "<i2").astype(np.float32) / 32768, w.getframerate()


def spoken_audio(request: dict[str, Any]) -> bytes:
    for message in reversed(request["messages"]):
        if message["role"] == "user" and isinstance(message["content"], list):
            for part in message["content"]:
                if part.get("type") == "input_audio":
                    return base64.b64decode(part["input_audio"]["data"])
    raise AssertionError("no input_audio in the request")


def envelope(x: np.ndarray, window: int = 160, hop: int = 80) -> np.ndarray:
    """RMS loudness every 5 ms (10 ms windows) at 16 kHz."""
    return np.sqrt(np.convolve(x * x, np.ones(window) / window, "same"))[::hop]


def best_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Peak normalised cross-correlation of ``b`` (shorter) inside ``a``."""
    n = len(a) + len(b)
    size = 1 << (n - 1).bit_length()
    corr = np.fft.irfft(np.fft.rfft(a, size) * np.conj(np.fft.rfft(b, size)), size)
    energy = np.sqrt(np.convolve(a * a, np.ones(len(b)), "valid"))
    peak = corr[: len(energy)] / (np.maximum(energy, 1e-9) * np.linalg.norm(b))
    return float(np.max(np.abs(peak)))


@contextlib.asynccontextmanager
async def chromium_page(wav: Path) -> AsyncIterator[Any]:
    """Debian's Chromium through Playwright; its fake microphone plays ``wav`` once,
    from the moment the page opens it."""
    playwright_api = pytest.importorskip("playwright.async_api")
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=chromium_args(wav))
        try:
            yield await browser.new_page()
        finally:
            await browser.close()


@contextlib.asynccontextmanager
async def firefox_page(wav: Path) -> AsyncIterator[Any]:
    """Debian's Firefox ESR over WebDriver BiDi; its microphone is the system's default
    source, the virtual microphone's monitor (scripts/audio-up)."""
    async with firefox(FIREFOX, FIREFOX_PREFS) as page:
        yield page


async def nothing_to_do(page: Any, wav: Path) -> None:
    """Chromium's fake microphone speaks by itself."""


async def speak_into_mic(page: Any, wav: Path) -> None:
    """Once the page captures (it sent a frame), play ``wav`` into the virtual mic."""
    await page.wait_for_function("voicebot.framesSent > 0", timeout=20_000)
    await asyncio.to_thread(play_into_mic, str(wav))


OpenPage = Callable[[Path], contextlib.AbstractAsyncContextManager[Any]]
Speak = Callable[[Any, Path], Awaitable[None]]
BROWSERS: dict[str, tuple[str, OpenPage, Speak]] = {
    "chromium": (CHROMIUM, chromium_page, nothing_to_do),
    "firefox": (FIREFOX, firefox_page, speak_into_mic),
}


@pytest.mark.parametrize("browser", [
    "chromium",
    # Firefox has no fake microphone that plays a file: it hears the virtual devices.
    pytest.param("firefox", marks=pytest.mark.audio),
])
def test_page_in_headless_browser(browser: str, upstream: Any, tmp_path: Path,
                                  request: pytest.FixtureRequest) -> None:
    executable, open_page, speak = BROWSERS[browser]
    if not Path(executable).exists():
        pytest.skip(f"Debian's {browser} is not installed")
    if browser == "firefox":
        request.getfixturevalue("audio_devices")
    said, truth = compose([1.0, "what is two plus three", 2.5], 16_000)
    wav = tmp_path / "utterance.wav"
    write_wav(str(wav), said, 16_000)
    reply_pcm = upstream.reply_pcm[: len(upstream.reply_pcm) // 2 * 2]

    async def main() -> dict[str, Any]:
        before = len(upstream.requests)
        async with running_bridge(upstream.base_url) as server:
            async with open_page(wav) as page:
                await page.goto(f"http://127.0.0.1:{server.port}/")
                await page.click("#talk")
                await speak(page, wav)
                await page.wait_for_function(
                    "voicebot.records.some(r => r.type === 'turn.done')", timeout=40_000)
                state: dict[str, Any] = await page.evaluate(
                    """() => ({records: voicebot.records, playback: voicebot.playback,
                               rows: [...document.querySelectorAll('#transcript > div')]
                                   .map(d => ({cls: d.className, text: d.textContent}))})""")
        state["requests"] = upstream.requests[before:]
        return state

    state = asyncio.run(main())
    errors = [r for r in state["records"] if r["type"] == "error"]
    assert not errors, errors
    # The question reached the upstream whole: one request, its audio holds the speech.
    [sent] = state["requests"]
    heard, rate = wav_samples(spoken_audio(sent))
    assert rate == 16_000
    speech = said[int(truth[0].start_s * 16_000): int(truth[0].end_s * 16_000)]
    assert len(heard) >= len(speech)
    # The browser's echo cancellation, noise suppression and gain control reshape the
    # waveform (its correlation with the source is about 0.7); the loudness contour of
    # the whole question survives them: the question arrived, all of it, in order.
    assert best_correlation(envelope(heard), envelope(speech)) > 0.9
    # The reply's words, one row per turn.
    rows = state["rows"]
    assert [r["cls"] for r in rows] == ["user", "assistant"]
    assert " ".join(rows[1]["text"].split()) == REPLY_TEXT
    # The playback worklet played the whole reply, sample for sample.
    [done] = [r for r in state["records"] if r["type"] == "turn.done"]
    playback = state["playback"]
    assert done["audio_bytes"] == len(reply_pcm)
    assert playback["audible"] == playback["received"] == len(reply_pcm) // 2
    assert playback["hash"] == fnv1a16(reply_pcm)


def test_page_barge_in_firefox(upstream: Any, tmp_path: Path, audio_devices: None) -> None:
    """Speaking over the reply in the page interrupts it: the bridge says what was heard
    (a beginning of the reply), the page marks the turn and its worklet drops the rest.
    The interruption is spoken once the reply is audibly playing, whatever the machine's
    speed: that needs a live microphone, which Firefox has here (the virtual one). Debian's
    headless Chromium finds no capture device but its fake one (getUserMedia without
    --use-fake-device-for-media-stream: NotFoundError), which plays a file at fixed times."""
    if not Path(FIREFOX).exists():
        pytest.skip("Debian's firefox-esr is not installed")
    question, interruption = tmp_path / "question.wav", tmp_path / "interruption.wav"
    write_wav(str(question), compose([0.5, "what is two plus three", 0.3], 16_000)[0], 16_000)
    write_wav(str(interruption), compose([0.1, "no wait, stop please", 0.3], 16_000)[0], 16_000)
    reply_samples = len(upstream.reply_pcm) // 2

    async def main() -> dict[str, Any]:
        async with running_bridge(upstream.base_url) as server:
            async with firefox_page(question) as page:
                await page.goto(f"http://127.0.0.1:{server.port}/")
                await page.click("#talk")
                await speak_into_mic(page, question)
                # Half a second of the reply heard, then the listener talks over it.
                await page.wait_for_function("voicebot.playback.audible > 12000",
                                             timeout=40_000)
                await asyncio.to_thread(play_into_mic, str(interruption))
                # All received counts as played once the worklet dropped the rest (if
                # the interruption's own reply has come meanwhile: once that is played).
                await page.wait_for_function(
                    """voicebot.records.some(r => r.type === 'interrupted') &&
                       voicebot.playback.played === voicebot.playback.received""",
                    timeout=40_000)
                state: dict[str, Any] = await page.evaluate(
                    """() => ({records: voicebot.records, playback: voicebot.playback,
                               rows: [...document.querySelectorAll('#transcript > div')]
                                   .map(d => ({cls: d.className, turn: d.dataset.turn}))})""")
        return state

    state = asyncio.run(main())
    errors = [r for r in state["records"] if r["type"] == "error"]
    assert not errors, errors
    [cut] = [r for r in state["records"] if r["type"] == "interrupted"]
    assert cut["reason"] == "barge_in"
    # What was heard is a beginning of the reply, not all of it.
    assert 0 < len(cut["text"]) < len(REPLY_TEXT) and REPLY_TEXT.startswith(cut["text"])
    assert 500 <= cut["played_ms"] < 1000 * reply_samples / 24_000
    # The page marked the turn, and its worklet dropped the rest of the reply: all of
    # it counts as played, not all of it was heard.
    assert {"cls": "assistant interrupted", "turn": str(cut["turn"])} in state["rows"]
    playback = state["playback"]
    assert playback["played"] == playback["received"]
    assert playback["audible"] < playback["received"]
