#!/usr/bin/env python3
"""Wake word on a synthetic corpus with exact truth: detection, false accepts, CPU.

Usage::

    .venv/bin/python scripts/bench_wakeword.py [--quick] [--parts detect,false,cpu,vad]
        [--models hey_jarvis,okay_nabu,hey_mycroft,alexa] [--cache DIR] [--seed-offset N]

Fast, not real time: the audio is fed block by block (60 ms, as the microphone's
capture thread feeds it) with the VAD's verdict per block, exactly as the kiosk
does. The corpus is made once with eSpeak NG and cached (``--cache``, default
``~/.cache/voicebot/bench_wakeword``); a re-run only listens. ``--seed-offset N``
(default 0: the corpus above) makes a fresh corpus with the same recipe and other
seeds for everything random (noises, pauses, the speech hour's sentences), cached
apart (default ``~/.cache/voicebot/bench_wakeword_freshN``): a held-out check of
anything tuned on the default one.

- Positives: each built-in wake word said by 6 eSpeak voices at 3 rates, speech at
  2 levels, over 3 room noises (tests/speech.room_noise), half of them followed
  in one breath by a question ("hey jarvis, what time is it?"), half alone. Truth:
  the sample where the wake word ends.
- Negatives: one hour of speechless room noise (every noise of tests/corpus at
  every level) and one hour of unrelated synthetic speech (sentences from the
  endpointing corpus and a vocabulary, 6 voices, in noise).

Parts:

- ``detect``: per model and engine (openWakeWord gated by the VAD, as shipped;
  microWakeWord on every chunk), the positives fed as one continuous stream:
  detection rate at the model's default threshold and at the lowest threshold
  with no false accept over the two negative hours (for ``--false-models``; each
  costs minutes), a detection-by-threshold curve, and the error of the detection's
  end position against the truth.
- ``cpu``: CPU per second of audio (``time.process_time`` of the detector's feeds,
  this process only, one thread) for openWakeWord on every chunk, VAD-gated (also
  with the onset window, and with microWakeWord beside it), and microWakeWord, in
  noise and in speech (``--cpu-minutes`` of each).
- ``vad``: the VAD options (webrtc, silero, micro, with and without WebRTC noise
  suppression/auto gain): CPU per audio second, utterance starts on speechless
  noise (false starts), and hey_jarvis detection at 0.5 gated by that VAD.

The machine is shared: CPU figures move with the load; the detection and false
accept counts do not.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from corpus import NOISES, REQUESTS  # noqa: E402
from speech import room_noise, synth  # noqa: E402

from voicebot.capture.noisegain import NoiseGain  # noqa: E402
from voicebot.capture.segmenter import SegmenterConfig, SpeechStarted  # noqa: E402
from voicebot.capture.vad import UtteranceDetector  # noqa: E402
from voicebot.capture.vadmodels import VoicedTap, make_classifier  # noqa: E402
from voicebot.kiosk.wakeword import (  # noqa: E402
    WakeDetection, WakePlaced, WakeWordConfig, WakeWordDetector)

RATE = 16_000
BLOCK = 960  # 60 ms: the capture thread's block
CORPUS_VERSION = 1
SEED_STRIDE = 1_000_000  # --seed-offset N moves every seed by N strides

PHRASES = {"hey_jarvis": "hey jarvis", "okay_nabu": "okay nabu", "hey_mycroft": "hey mycroft",
           "alexa": "alexa"}
VOICES = ("en-us", "en-gb", "en+f3", "en-us+m3", "en-gb-scotland", "en-us+f4")
WPMS = (140, 175, 210)
SPEECH_GAINS_DB = (0.0, -12.0)
POS_NOISES = (("pink", -55.0), ("fan", -45.0), ("brown", -38.0))
QUESTIONS = ("what time is it?", "set a timer for ten minutes", "what is the weather tomorrow?",
             "turn on the kitchen lights")
WORDS = ("the a of and to in is you that it he was for on are as with his they at be this "
         "have from or one had by word but not what all were we when your can said there use "
         "an each which she do how their if will up other about out many then them these so "
         "some her would make like him into time has look two more write go see number no way "
         "could people my than first water been call who oil its now find long down day did "
         "get come made may part over new sound take only little work know place year live me "
         "back give most very after thing our just name good sentence man think say great "
         "where help through much before line right too mean old any same tell boy follow "
         "came want show also around form three small set put end does another well large "
         "must big even such because turn here why ask went men read need land different home "
         "us move try kind hand picture again change off play spell air away animal house "
         "point page letter mother answer found study still learn should america world "
         "service travel garden harvest jasmine melody nature office").split()


# -- corpus -----------------------------------------------------------------------------

@dataclasses.dataclass
class Clip:
    name: str
    samples: np.ndarray  # int16
    wake: str | None  # the built-in model whose word is in it
    wake_end: int  # truth: the sample where the wake word ends (-1: none)


def _to_int16(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, -1.0, 1.0) * 32767).astype(np.int16)


def _positive(model: str, voice: str, wpm: int, gain_db: float, noise: tuple[str, float],
              follow: str | None, seed: int) -> Clip:
    rng = np.random.default_rng(seed)
    word = synth(PHRASES[model] + ("," if follow else ""), RATE, voice=voice, wpm=wpm)
    lead = np.zeros(int(rng.uniform(1.5, 3.0) * RATE), np.float32)
    parts = [lead, word]
    if follow:
        parts += [np.zeros(int(rng.uniform(0.0, 0.12) * RATE), np.float32),
                  synth(follow, RATE, voice=voice, wpm=wpm)]
    parts.append(np.zeros(int(2.0 * RATE), np.float32))
    x = np.concatenate(parts) * np.float32(10 ** (gain_db / 20))
    x = x + room_noise(noise[0], len(x), noise[1], rng)
    name = f"{model}/{voice}@{wpm}/{gain_db:g}dB/{noise[0]}{noise[1]:g}/{'q' if follow else '-'}"
    return Clip(name, _to_int16(x), model, len(lead) + len(word))


def seeded(seed: int, seed_offset: int) -> int:
    """``seed`` of the corpus moved to the one of ``--seed-offset`` (0: unchanged)."""
    return seed + SEED_STRIDE * seed_offset


def positive_specs(models: list[str], quick: bool, seed_offset: int = 0
                   ) -> list[tuple[str, str, int, float, tuple[str, float], str | None, int]]:
    specs = []
    i = 0
    for model in models:
        for voice in VOICES:
            for wpm in WPMS:
                for gain in SPEECH_GAINS_DB:
                    for noise in POS_NOISES:
                        i += 1
                        if quick and (i + i // 3 + i // 18) % 3:
                            continue
                        follow = QUESTIONS[i % len(QUESTIONS)] if i % 2 else None
                        specs.append((model, voice, wpm, gain, noise, follow,
                                      seeded(i, seed_offset)))
    return specs


def _sentence(rng: np.random.Generator) -> str:
    if rng.random() < 0.3:
        return " ".join(REQUESTS[int(rng.integers(len(REQUESTS)))])
    n = int(rng.integers(4, 14))
    return " ".join(WORDS[int(k)] for k in rng.integers(len(WORDS), size=n))


def _speech_minute(k: int, seed_offset: int = 0) -> np.ndarray:
    """One minute of unrelated speech in noise (seeded by ``k``)."""
    rng = np.random.default_rng(seeded(10_000 + k, seed_offset))
    voice = VOICES[k % len(VOICES)]
    wpm = WPMS[(k // len(VOICES)) % len(WPMS)]
    pieces, n = [], 0
    while n < 60 * RATE:
        gap = np.zeros(int(rng.uniform(0.2, 1.5) * RATE), np.float32)
        s = synth(_sentence(rng), RATE, voice=voice, wpm=wpm)
        pieces += [gap, s]
        n += len(gap) + len(s)
    x = np.concatenate(pieces)[:60 * RATE]
    kind, dbfs = NOISES[1 + k % (len(NOISES) - 1)]
    return _to_int16(x + room_noise(kind, len(x), float(dbfs or -60), rng))


def _noise_minute(k: int, seed_offset: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seeded(20_000 + k, seed_offset))
    kind, dbfs = NOISES[1 + k % (len(NOISES) - 1)]
    return _to_int16(room_noise(kind, 60 * RATE, float(dbfs or -60), rng))


def _cached(cache: Path, key: str, make: Callable[[], np.ndarray]) -> np.ndarray:
    path = cache / (hashlib.sha1(key.encode()).hexdigest()[:16] + ".npy")
    if path.exists():
        return np.load(path)
    x = make()
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, x)
    os.replace(tmp, path)
    return x


def default_cache(seed_offset: int = 0) -> Path:
    """Where the corpus is kept (``--cache``'s default); a fresh corpus apart."""
    return (Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
            / "voicebot" / ("bench_wakeword" + (f"_fresh{seed_offset}" if seed_offset else "")))


def load_positives(cache: Path, models: list[str], quick: bool,
                   seed_offset: int = 0) -> list[Clip]:
    specs = positive_specs(models, quick, seed_offset)

    def one(spec: tuple[str, str, int, float, tuple[str, float], str | None, int]) -> Clip:
        model, voice, wpm, gain, noise, follow, seed = spec
        key = f"v{CORPUS_VERSION}/pos/{spec}"
        meta = cache / (hashlib.sha1(key.encode()).hexdigest()[:16] + ".json")
        if meta.exists():
            m = json.loads(meta.read_text())
            return Clip(m["name"], np.load(cache / m["file"]), model, m["wake_end"])
        clip = _positive(*spec)
        file = meta.with_suffix(".npy").name
        np.save(cache / file, clip.samples)
        meta.write_text(json.dumps({"name": clip.name, "file": file, "wake_end": clip.wake_end}))
        return clip

    with ThreadPoolExecutor(2) as pool:  # eSpeak runs in a subprocess
        return list(pool.map(one, specs))


def load_negatives(cache: Path, minutes: int, seed_offset: int = 0
                   ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    v = f"v{CORPUS_VERSION}" + (f"/seeds+{seed_offset}" if seed_offset else "")
    with ThreadPoolExecutor(2) as pool:
        noise = list(pool.map(lambda k: _cached(cache, f"{v}/noise/{k}",
                                                lambda: _noise_minute(k, seed_offset)),
                              range(minutes)))
        speech = list(pool.map(lambda k: _cached(cache, f"{v}/speech/{k}",
                                                 lambda: _speech_minute(k, seed_offset)),
                               range(minutes)))
    return noise, speech


# -- listening --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Chain:
    """The capture chain in front of the wake word: VAD kind and noise processing."""

    vad: str = "webrtc"
    noise_suppression: int = 0
    auto_gain_dbfs: int = 0

    @property
    def label(self) -> str:
        extra = ""
        if self.noise_suppression or self.auto_gain_dbfs:
            extra = f" + noise {self.noise_suppression}, gain {self.auto_gain_dbfs} dBFS"
        return self.vad + extra


@dataclasses.dataclass
class Heard:
    detections: list[WakeDetection]
    starts: int  # utterances the segmenter started
    vad_cpu_s: float
    wake_cpu_s: float
    seconds: float
    wake_max_s: float = 0.0  # the longest one block's wake-word work took (wall clock)


def listen(clip: np.ndarray, detector: WakeWordDetector | None, chain: Chain,
           start: int = 0, placed: list[WakePlaced] | None = None) -> Heard:
    """Feed ``clip`` as the capture thread would: processor → segmenter's VAD → wake word
    (``placed`` gets the detections' ends placed again)."""
    tap = VoicedTap(make_classifier(chain.vad, 3))
    processor = (NoiseGain(chain.auto_gain_dbfs, chain.noise_suppression)
                 if chain.noise_suppression or chain.auto_gain_dbfs else None)
    segmenter = UtteranceDetector(SegmenterConfig(), classify=tap)
    found: list[WakeDetection] = []
    starts = 0
    vad_cpu = wake_cpu = wake_max = 0.0
    position = start
    for i in range(0, len(clip) - BLOCK + 1, BLOCK):
        t0 = time.process_time()
        pcm = clip[i:i + BLOCK].tobytes()
        if processor is not None:
            pcm = processor.process(pcm)
        events = segmenter.feed(pcm)
        starts += sum(isinstance(e, SpeechStarted) for e in events)
        t1 = time.process_time()
        vad_cpu += t1 - t0
        if detector is not None and pcm:
            block = np.frombuffer(pcm, np.int16)
            w0 = time.perf_counter()
            found += detector.feed(block, position, tap.take())
            if placed is not None:
                placed += detector.placed()
            wake_max = max(wake_max, time.perf_counter() - w0)
            wake_cpu += time.process_time() - t1
        position += len(pcm) // 2
    return Heard(found, starts, vad_cpu, wake_cpu, len(clip) / RATE, wake_max)


def _detector(model: str, engine: str, gate: str, **options: object) -> WakeWordDetector:
    return WakeWordDetector(WakeWordConfig(model=model, engine=engine, gate=gate,
                                           **options))  # type: ignore[arg-type]


def _stream_through(detector: WakeWordDetector, clips: list[np.ndarray], chain: Chain,
                    worst: list[float] | None = None, placed: list[WakePlaced] | None = None
                    ) -> tuple[list[WakeDetection], int, float, float, float]:
    """Clips one after another as one continuous stream; detections, starts, CPU, seconds
    (``worst`` gets each clip's longest block, ``placed`` the ends placed again)."""
    found: list[WakeDetection] = []
    starts, vad_cpu, wake_cpu, seconds, position = 0, 0.0, 0.0, 0.0, 0
    for clip in clips:
        h = listen(clip, detector, chain, position, placed)
        if worst is not None:
            worst.append(h.wake_max_s)
        position += len(clip) // BLOCK * BLOCK
        found += h.detections
        starts += h.starts
        vad_cpu += h.vad_cpu_s
        wake_cpu += h.wake_cpu_s
        seconds += h.seconds
    return found, starts, vad_cpu, wake_cpu, seconds


# -- parts ------------------------------------------------------------------------------

ENGINES = (("openwakeword", "vad"), ("microwakeword", "always"))
THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.97, 0.99)
REFRACTORY = 2 * RATE


@dataclasses.dataclass
class Trace:
    """Every chunk score >= 0.01 of one run: (chunk end position, score), in order."""

    scores: list[tuple[int, float]]
    seconds: float
    vad_cpu_s: float
    wake_cpu_s: float
    starts: int


def trace(engine: str, model: str, gate: str, clips: list[np.ndarray], chain: Chain = Chain(),
          onset_window_ms: int | None = None) -> Trace:
    """Run ``clips`` as one continuous capture stream; the scores the model gave."""
    detector = WakeWordDetector(WakeWordConfig(model=model, engine=engine, gate=gate,
                                               threshold=0.01, refractory_ms=0, end_lag_ms=0,
                                               onset_window_ms=onset_window_ms))
    found, starts, vad_cpu, wake_cpu, seconds = _stream_through(detector, clips, chain)
    detector.close()
    return Trace([(d.end_position, d.score) for d in found], seconds, vad_cpu, wake_cpu, starts)


def fire(scores: list[tuple[int, float]], threshold: float) -> list[tuple[int, float]]:
    """What the detector's trigger makes of the scores at ``threshold`` (refractory 2 s)."""
    out, quiet_until = [], -1
    for pos, score in scores:
        if score >= threshold and pos >= quiet_until:
            out.append((pos, score))
            quiet_until = pos + REFRACTORY
    return out


def positive_stream(clips: list[Clip]) -> tuple[list[np.ndarray], list[int]]:
    """The clips as one stream (as a kiosk hears them, one after another); truth ends."""
    samples, ends, position = [], [], 0
    for clip in clips:
        usable = len(clip.samples) // BLOCK * BLOCK
        samples.append(clip.samples[:usable])
        ends.append(position + clip.wake_end)
        position += usable
    return samples, ends


@dataclasses.dataclass
class Score:
    hits: int
    total: int
    false_in_positives: int
    errors_s: list[float]


def detection_of(fired: list[tuple[int, float]], end: int) -> int | None:
    """The first detection (its chunk's end) that counts for the take whose wake word
    ends at ``end``: from 1 s before it to 1.5 s after."""
    return next((p for p, _ in fired if -1.0 * RATE <= p - end <= 1.5 * RATE), None)


def score_positives(t: Trace, ends: list[int], threshold: float, lag_s: float) -> Score:
    fired = fire(t.scores, threshold)
    hits, errors, used = 0, [], set()
    for end in ends:
        found = detection_of(fired, end)
        if found is not None:
            hits += 1
            used.add(found)
            errors.append((found - end) / RATE - lag_s)
    return Score(hits, len(ends), len([p for p, _ in fired if p not in used]), errors)


def _err(errors: list[float]) -> str:
    if not errors:
        return ""
    ms = sorted(abs(e) * 1000 for e in errors)
    return (f"end error median {1000 * statistics.median(errors):+.0f} ms, "
            f"|p90| {ms[int(0.9 * (len(ms) - 1))]:.0f} ms, max {ms[-1]:.0f} ms")


def part_detect(clips: list[Clip], models: list[str], negatives: list[list[np.ndarray]],
                false_models: list[str], engines: tuple[tuple[str, str], ...] = ENGINES,
                onset_window_ms: int | None = None) -> None:
    """Detection rate at the default threshold and at the lowest threshold with 0 false
    accepts over the negatives (models in ``false_models`` only: the others are shown
    at their default)."""
    from voicebot.kiosk.engines import open_engine

    for engine, gate in engines:
        for model in models:
            mine = [c for c in clips if c.wake == model]
            samples, ends = positive_stream(mine)
            pos = trace(engine, model, gate, samples, onset_window_ms=onset_window_ms)
            eng = open_engine(engine, model)
            default, lag_s = eng.default_threshold, eng.end_lag_samples / RATE
            eng.close()
            neg_max = None
            if model in false_models:
                neg_scores = []
                for label, clips_ in zip(("noise", "speech"), negatives):
                    nt = trace(engine, model, gate, clips_, onset_window_ms=onset_window_ms)
                    top = max((sc for _, sc in nt.scores), default=0.0)
                    neg_scores.append(top)
                    where = ", ".join(f"{label} minute {p // (60 * RATE)} at "
                                      f"{p % (60 * RATE) / RATE:.1f} s ({sc:.2f})"
                                      for p, sc in fire(nt.scores, default))
                    print(f"  {engine:<13} {gate:<6} {model:<12} {label} "
                          f"{nt.seconds / 3600:.2f} h: highest score {top:.3f}, false accepts "
                          f"at {default:g}: {len(fire(nt.scores, default))} {where}", flush=True)
                neg_max = max(neg_scores)
            rows = [("default", default)]
            if neg_max is not None:
                zero_fa = [t for t in THRESHOLDS if t > neg_max]
                if zero_fa:
                    rows.append(("0 FA", zero_fa[0]))
            for label, t in rows:
                sc = score_positives(pos, ends, t, lag_s)
                print(f"  {engine:<13} {gate:<6} {model:<12} threshold {t:<5g} ({label:<7}) "
                      f"{sc.hits:3d}/{sc.total:<3d} = {100 * sc.hits / sc.total:5.1f} %  "
                      f"extra in positives {sc.false_in_positives}  {_err(sc.errors_s)}",
                      flush=True)
            curve = "  ".join(f"{t:g}:{100 * score_positives(pos, ends, t, lag_s).hits / len(ends):.0f}%"
                              for t in THRESHOLDS)
            print(f"      detection by threshold: {curve}")


def part_cpu(noise: list[np.ndarray], speech: list[np.ndarray], minutes: int) -> None:
    print(f"  CPU per second of audio, % of one core ({minutes} min of each; VAD + segmenter "
          "shown apart, it runs anyway)")
    configs: tuple[tuple[str, str, str, dict[str, object]], ...] = (
        ("openWakeWord, every chunk", "openwakeword", "always", {}),
        ("openWakeWord, VAD-gated", "openwakeword", "vad", {}),
        ("openWakeWord, VAD, onset 1.8 s", "openwakeword", "vad", {"onset_window_ms": 1800}),
        ("openWakeWord + microWakeWord", "openwakeword", "vad",
         {"second_engine": "microwakeword", "second_threshold": 0.8}),
        ("microWakeWord, every chunk", "microwakeword", "always", {}))
    for label, engine, gate, options in configs:
        row, worst = [], []
        for clips in (noise[:minutes], speech[:minutes]):
            detector = _detector("hey_jarvis", engine, gate, **options)
            _, _, vad_cpu, wake_cpu, seconds = _stream_through(detector, clips, Chain(), worst)
            chunk_samples = 1280 if engine == "openwakeword" else 480
            row.append((100 * wake_cpu / seconds, 100 * vad_cpu / seconds,
                        detector.chunks_run * chunk_samples / RATE / seconds))
            detector.close()
        print(f"  {label:<30} noise {row[0][0]:5.2f} %  speech {row[1][0]:5.2f} %   "
              f"(model ran on {100 * row[0][2]:.0f} % / {100 * row[1][2]:.0f} % of the audio; "
              f"VAD+segmenter {row[0][1]:.2f} / {row[1][1]:.2f} %; longest block "
              f"{1000 * max(worst):.0f} ms)", flush=True)


def part_vad(clips: list[Clip], noise: list[np.ndarray], minutes: int) -> None:
    chains = (Chain("webrtc"), Chain("silero"), Chain("micro"),
              Chain("webrtc", 2, 0), Chain("webrtc", 2, 31), Chain("silero", 2, 31))
    samples, ends = positive_stream([c for c in clips if c.wake == "hey_jarvis"])
    print(f"  VAD options: CPU of VAD + processing + segmenter (and of the gated wake word), "
          f"utterance starts in {minutes} min of speechless noise, hey_jarvis detection at 0.5 "
          "gated by it")
    for chain in chains:
        nt = trace("openwakeword", "hey_jarvis", "vad", noise[:minutes], chain)
        pt = trace("openwakeword", "hey_jarvis", "vad", samples, chain)
        sc = score_positives(pt, ends, 0.5, 0.0)
        print(f"  {chain.label:<36} CPU {100 * nt.vad_cpu_s / nt.seconds:5.2f} % (+ wake word "
              f"{100 * nt.wake_cpu_s / nt.seconds:.2f} %), false starts {nt.starts} "
              f"({nt.starts / nt.seconds * 3600:.0f}/h), false accepts "
              f"{len(fire(nt.scores, 0.5))}, detection {100 * sc.hits / sc.total:.1f} %",
              flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a third of the positives, "
                    "10 min of each negative")
    ap.add_argument("--parts", default="detect,cpu,vad")
    ap.add_argument("--models", default=",".join(PHRASES))
    ap.add_argument("--false-models", default="hey_jarvis",
                    help="models run over the negative hours (each costs minutes)")
    ap.add_argument("--engines", default="openwakeword,microwakeword")
    ap.add_argument("--onset-window-ms", type=int, default=None,
                    help="detect: only within this long of the start of speech (the "
                         "detector's onset_window_ms)")
    ap.add_argument("--cpu-minutes", type=int, default=5)
    ap.add_argument("--seed-offset", type=int, default=0, help="a fresh corpus: the same "
                    "recipe, other seeds (0: the usual one)")
    ap.add_argument("--cache", type=Path, default=None,
                    help="default ~/.cache/voicebot/bench_wakeword[_freshN]")
    args = ap.parse_args()
    args.cache = args.cache or default_cache(args.seed_offset)
    args.cache.mkdir(parents=True, exist_ok=True)
    parts = set(args.parts.split(","))
    models = args.models.split(",")
    minutes = 10 if args.quick else 60
    t0 = time.monotonic()
    clips = load_positives(args.cache, models, args.quick, args.seed_offset)
    noise, speech = load_negatives(args.cache, minutes, args.seed_offset)
    print(f"corpus: {len(clips)} positives, {minutes} min noise + {minutes} min speech "
          f"({time.monotonic() - t0:.0f} s to load or make; cache {args.cache})", flush=True)
    if "detect" in parts:
        print("detection rate (positives: 6 voices × 3 rates × 2 levels × 3 noises per model; "
              "false accepts over the negatives)")
        engines = tuple(e for e in ENGINES if e[0] in args.engines.split(","))
        if args.onset_window_ms is not None:
            print(f"  (onset window {args.onset_window_ms} ms)")
        part_detect(clips, models, [noise, speech], args.false_models.split(","), engines,
                    args.onset_window_ms)
    if "cpu" in parts:
        part_cpu(noise, speech, min(args.cpu_minutes, minutes))
    if "vad" in parts:
        part_vad(clips, noise, min(args.cpu_minutes * 2, minutes))


if __name__ == "__main__":
    main()
