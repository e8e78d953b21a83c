#!/usr/bin/env python3
"""The wake-word verifier (voicebot/kiosk/verifier.py): detection and false accepts
with a verifier enrolled from the household's voices, on bench_wakeword's corpus.

Usage::

    .venv/bin/python scripts/bench_verifier.py [--sentences 5,10,20] [--takes 4]
        [--check] [--cache DIR] [--seed-offset N[,N...]] [--bars 0.02,0.005,all@0.02]
        [--consecutive 1,2] [--looks MAYBE[xFACTOR][/BAR]]

Enrolment as ``voicebot kiosk --enroll`` does it (kiosk/enroll.py), with recordings
made apart from the test corpus: each of the corpus's 6 eSpeak voices says the wake
word ``--takes`` times, alone, and reads the first N Harvard sentences
(kiosk/passage.py), at rates and levels the corpus does not use (160 and 195 wpm,
0 and -6 dB) over noises with other seeds. The passage's text is checked to share
no sequence of 3 words with anything the corpus says (scripts/verifier_text.py).
The verifier's threshold is the one enrolment chose by cross-validation on its own
recordings; the corpus never sets it.

Then bench_wakeword's positives (108 takes) and its two negative hours, as the
kiosk's detector hears them (VAD-gated; onset window off, as shipped, and on at
1800 ms), scored from the model's cached candidates (scripts/verifier_candidates.py:
the same as running the detector with the verifier). ``--check`` also runs the real
detector with the verifier over the corpus once, for the largest N. Fast, not real
time; the first run fills the candidate cache (~10 min of CPU).

``--bars``: the verifier's low bar (the model's score over which the verifier is
asked), one enrolment per bar, the same bar at enrolment (the windows it learns from)
and in the detector (saved in the verifier); ``all``: every chunk the model scores
while the VAD gate lets it run; ``BAR@FLOOR``: the takes' windows it learns as
positives only at or over FLOOR (enroll's ``positive_threshold``). The candidates are
every chunk scored, so any bar is scored from the same cache. ``--consecutive K``: also
fire only when the threshold is passed in K chunks in a row. ``--looks``: also the
verifier on the second look's windows (scripts/verifier_looks.py).
scripts/bench_verifier-results.md has what these showed.

``--seed-offset N``: test on bench_wakeword's fresh corpus of that offset (the same
recipe, other seeds; a held-out check). The enrolment is the same whatever the
offset (its passage excludes the words of the usual corpus, as always); the passage
is also checked against the fresh corpus's texts.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import bench_wakeword as B
from speech import room_noise  # bench_wakeword put tests/ on the path
from verifier_candidates import EVERY_CHUNK, Candidates, candidates
from verifier_looks import Looks, looks
from verifier_text import overlap, test_texts, words_of
from voicebot.kiosk.enroll import EnrolResult, enroll
from voicebot.kiosk.passage import HARVARD_SENTENCES, reading_passage
from voicebot.kiosk.verifier import Verifier
from voicebot.kiosk.wakeword import WakeWordConfig, WakeWordDetector

MODEL = "hey_jarvis"
ENROL_WPMS = (160, 195)
ENROL_GAINS_DB = (0.0, -6.0)
ENROL_NOISES = (("pink", -50.0), ("fan", -42.0))
ONSETS = (None, 1800)


def enrol_takes(per_voice: int, variant: int = 0) -> list[np.ndarray]:
    takes, seed = [], 50_000 + 1000 * variant
    for voice in B.VOICES:
        for k in range(per_voice):
            seed += 1
            clip = B._positive(MODEL, voice, ENROL_WPMS[k % 2], ENROL_GAINS_DB[(k // 2) % 2],
                               ENROL_NOISES[k % 2], None, seed)
            takes.append(clip.samples)
    return takes


def passage(lines: int, sounds_like: bool = True) -> tuple[str, ...]:
    """What each voice reads: kiosk/passage.py's, its sounds-like words never one the
    corpus says (without ``sounds_like``: the Harvard sentences alone)."""
    if not sounds_like:
        return HARVARD_SENTENCES[:lines]
    return reading_passage(MODEL, lines, exclude={w for t in test_texts() for w in words_of(t)})


def enrol_readings(sentences: int, variant: int = 0, sounds_like: bool = True
                   ) -> tuple[list[np.ndarray], float]:
    """Each voice reading the passage (one recording per voice, as enrolment records
    it: sentence after sentence, rate and level alternating, in one noise); the mean
    seconds of speech per voice."""
    readings, speech_s = [], []
    for v, voice in enumerate(B.VOICES):
        rng = np.random.default_rng(60_000 + 100 * variant + v)
        parts, said = [np.zeros(B.RATE, np.float32)], 0
        for k, text in enumerate(passage(sentences, sounds_like)):
            x = B.synth(text, B.RATE, voice=voice, wpm=ENROL_WPMS[(k + v) % 2])
            parts += [x * np.float32(10 ** (ENROL_GAINS_DB[(k // 2 + v) % 2] / 20)),
                      np.zeros(int(rng.uniform(0.4, 0.9) * B.RATE), np.float32)]
            said += len(x)
        x = np.concatenate(parts)
        kind, dbfs = ENROL_NOISES[v % 2]
        readings.append(B._to_int16(x + room_noise(kind, len(x), dbfs, rng)))
        speech_s.append(said / B.RATE)
    return readings, statistics.mean(speech_s)


def verified(c: Candidates, v: Verifier) -> list[tuple[int, float]]:
    """What the detector with ``v`` scores on these candidates."""
    return [(int(p), v.probability(w)) for p, s, w in zip(c.positions, c.scores, c.windows)
            if s >= v.base_threshold]


def _truth_near(p: int, end: int) -> bool:
    return -1.0 * B.RATE <= p - end <= 1.5 * B.RATE


def with_looks(c: Candidates, lk: Looks, v: Verifier, look_bar: float
               ) -> list[tuple[int, float]]:
    """The verifier on the chunks over its bar and on each second look (its best
    probability over the look's windows that the fresh model scored at or over
    ``look_bar``, placed at the look's trigger), in position order."""
    out = verified(c, v)
    for i, trigger in enumerate(lk.triggers):
        a, b = int(lk.starts[i]), int(lk.starts[i + 1])
        best = max((v.probability(lk.windows[j]) for j in range(a, b)
                    if lk.scores[j] >= look_bar), default=0.0)
        out.append((int(trigger), best))
    out.sort(key=lambda x: x[0])
    return out


def consecutive(scored: list[tuple[int, float]], k: int) -> list[tuple[int, float]]:
    """Each chunk's probability as the lowest of it and the k - 1 chunks before it
    (0 unless all k were asked, one chunk apart): the word must pass the threshold in
    k chunks in a row."""
    if k <= 1:
        return scored
    out, run, last = [], [], -1
    for p, s in scored:
        run = run + [s] if p - last == CHUNK else [s]
        run, last = run[-k:], p
        out.append((p, min(run) if len(run) == k else 0.0))
    return out


CHUNK = 1280


def report(v: Verifier, clips: list[B.Clip], ends: list[int],
           cands: dict[tuple[str, int | None], Candidates],
           scored: Callable[[str, int | None], list[tuple[int, float]]] | None = None,
           k: int = 1) -> None:
    """Detection, false accepts and margins of ``v``; ``scored(label, onset)``: the
    probabilities the detector gets (default: :func:`verified` on the candidates);
    ``k``: :func:`consecutive`."""
    def verified_(label: str, onset: int | None) -> list[tuple[int, float]]:
        return verified(cands[label, onset], v)

    def score_of(label: str, onset: int | None) -> list[tuple[int, float]]:
        return consecutive((scored or verified_)(label, onset), k)

    for onset in ONSETS:
        c = cands["speech", onset]
        calls = int((c.scores >= v.base_threshold).sum())
        print(f"  onset window {onset or 'off'}: verifier calls {calls} in the speech hour "
              f"({3600 * calls / c.seconds:.0f} per hour), "
              f"{int((cands['noise', onset].scores >= v.base_threshold).sum())} in the noise "
              f"hour, {int((cands['positives', onset].scores >= v.base_threshold).sum())} in "
              f"the positives' stream", flush=True)
        pos = score_of("positives", onset)
        fired = B.fire(pos, v.threshold)
        hit = [any(_truth_near(p, e) for p, _ in fired) for e in ends]
        best = [max((s for p, s in pos if _truth_near(p, e)), default=0.0) for e in ends]
        stray = [s for p, s in pos if not any(_truth_near(p, e) for e in ends)]
        fa, top = {}, max(stray, default=0.0)
        for label in ("noise", "speech"):
            scores = score_of(label, onset)
            fa[label] = len(B.fire(scores, v.threshold))
            top = max(top, max((s for _, s in scores), default=0.0))
        det = [b for b, h in zip(best, hit) if h]
        print(f"  onset window {onset or 'off'}: detection {sum(hit)}/{len(hit)} = "
              f"{100 * sum(hit) / len(hit):.1f} %, false accepts noise {fa['noise']} speech "
              f"{fa['speech']}, extra in positives "
              f"{len([p for p, _ in fired if not any(_truth_near(p, e) for e in ends)])}; "
              f"margin: lowest detected {min(det, default=0.0):.4f} vs highest false "
              f"candidate {top:.4f} (threshold {v.threshold:.4f})", flush=True)
        if onset is None:
            for key, pick in (("voice", lambda n: n.split("/")[1].split("@")[0]),
                              ("rate", lambda n: n.split("@")[1].split("/")[0]),
                              ("question after", lambda n: n.endswith("/q"))):
                groups: dict[str, list[bool]] = {}
                for clip, h in zip(clips, hit):
                    groups.setdefault(str(pick(clip.name)), []).append(h)
                print(f"    by {key}: " + "  ".join(f"{k} {100 * sum(g) / len(g):.0f}%"
                                                   for k, g in groups.items()))
            missed = [clip.name for clip, h in zip(clips, hit) if not h]
            print(f"    missed: {', '.join(missed) or 'none'}")
            # For reference only (not how the threshold is set): thresholds with 0 FA.
            curve = []
            for t in (0.5, 0.9, 0.99, 0.999):
                f = B.fire(pos, t)
                n = sum(any(_truth_near(p, e) for p, _ in f) for e in ends)
                fas = sum(len(B.fire(score_of(lab, onset), t))
                          for lab in ("noise", "speech"))
                curve.append(f"{t:g}: {100 * n / len(ends):.1f} % / {fas} FA")
            print(f"    at other thresholds (reference, not chosen on these): "
                  + "  ".join(curve))


def baseline(ends: list[int], cands: dict[tuple[str, int | None], Candidates],
             threshold: float = 0.5) -> None:
    """The shipped model alone at ``threshold``, no verifier (from the same candidates)."""
    for onset in ONSETS:
        scored = {label: [(int(p), float(s)) for p, s in zip(cands[label, onset].positions,
                                                             cands[label, onset].scores)]
                  for label in ("positives", "noise", "speech")}
        fired = B.fire(scored["positives"], threshold)
        hits = sum(any(_truth_near(p, e) for p, _ in fired) for e in ends)
        print(f"  shipped model alone at {threshold:g}, onset window {onset or 'off'}: "
              f"detection {hits}/{len(ends)} = {100 * hits / len(ends):.1f} %, false accepts "
              f"noise {len(B.fire(scored['noise'], threshold))} speech "
              f"{len(B.fire(scored['speech'], threshold))}", flush=True)


def cpu_per_candidate(v: Verifier, c: Candidates) -> float:
    windows = c.windows[: min(len(c.windows), 2000)]
    t0 = time.process_time()
    for w in windows:
        v.probability(w)
    return (time.process_time() - t0) / max(1, len(windows))


def check(v: Verifier, samples: list[np.ndarray], ends: list[int],
          speech: list[np.ndarray], noise: list[np.ndarray]) -> None:
    """The real detector with the verifier (threshold: enrolment's) over the corpus."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "v.npz"
        v.save(path)
        out = []
        for label, clips in (("positives", samples), ("noise", noise), ("speech", speech)):
            d = WakeWordDetector(WakeWordConfig(model=MODEL, verifier=str(path), end_lag_ms=0))
            found = B._stream_through(d, clips, B.Chain())[0]
            d.close()
            if label == "positives":
                hits = sum(any(_truth_near(x.end_position, e) for x in found) for e in ends)
                out.append(f"detection {hits}/{len(ends)}")
            else:
                out.append(f"{label} false accepts {len(found)}")
    print(f"  check, the detector itself (onset off): {', '.join(out)}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--sentences", default="5,10,20", help="passage sizes to enrol with: "
                    "Harvard sentences per voice, each with a line of sounds-like words")
    ap.add_argument("--takes", type=int, default=4, help="wake-word takes per voice")
    ap.add_argument("--no-readings", action="store_true", help="also enrol without them")
    ap.add_argument("--harvard-only", default="", metavar="SIZES",
                    help="also enrol with the Harvard sentences alone (no sounds-like lines)")
    ap.add_argument("--check", action="store_true", help="run the detector itself with the "
                    "last verifier of --sentences")
    ap.add_argument("--variant", type=int, default=0, help="other noise seeds and pauses "
                    "for the enrolment recordings (the same texts, rates and levels)")
    ap.add_argument("--bars", default="0.02", help="the verifier's low bars to enrol and "
                    "test with, comma-separated (all: every chunk the gated model scores)")
    ap.add_argument("--looks", default="", metavar="MAYBE[xFACTOR][/BAR]", help="also the "
                    "verifier on second looks (kiosk/secondlook.py) asked where the model's "
                    "score rises through MAYBE, slowed by FACTOR (1.3), on the look's windows "
                    "the fresh model scores at or over BAR (0); comma-separated")
    ap.add_argument("--consecutive", default="1", metavar="K", help="also with the "
                    "threshold passed in K chunks in a row; comma-separated")
    ap.add_argument("--seed-offset", default="0", help="test on bench_wakeword's fresh "
                    "corpus of this offset (0: the usual one); several, comma-separated: "
                    "each enrolment is tested on each")
    ap.add_argument("--cache", type=Path, default=None,
                    help="default bench_wakeword's for --seed-offset (one offset only)")
    args = ap.parse_args()
    offsets = [int(o) for o in args.seed_offset.split(",")]
    if args.cache is not None and len(offsets) > 1:
        ap.error("--cache goes with one --seed-offset")
    sizes = [int(s) for s in args.sentences.split(",")]
    texts = list(passage(max(sizes)))
    words = {w for t in texts for w in words_of(t)}
    for offset in sorted({0, *offsets}):
        shared = overlap(texts, offset)
        assert not shared[3], f"the passage shares word sequences with the corpus: {shared[3]}"
        print(f"passage ({len(texts)} lines, {len(words)} distinct words): no 3-word "
              f"sequence in common with the texts of the corpus of seed offset {offset}; "
              f"{len(shared[2])} 2-word sequences "
              f"({', '.join(' '.join(g) for g in sorted(shared[2]))}); {len(shared[1])} "
              f"single words ({100 * len(shared[1]) / len(words):.0f} % of its words)",
              flush=True)
    corpora = [Corpus(args.cache or B.default_cache(offset), offset) for offset in offsets]
    enrol_cache = corpora[0].cache / "verifier"
    for corpus in corpora:
        c = corpus.cands["speech", None]
        print(f"seed offset {corpus.offset}: model {100 * c.cpu_s / c.seconds:.2f} % of a core "
              f"in the speech hour (onset off); {(c.scores >= 0.02).sum()} candidates over "
              "0.02 there", flush=True)
        baseline(corpus.ends, corpus.cands)
    tone = B._to_int16(room_noise("fan", 2 * B.RATE, -45.0, np.random.default_rng(3)))
    takes = enrol_takes(args.takes, args.variant)
    runs: list[tuple[int, bool]] = (([(0, True)] if args.no_readings else [])
                                    + [(int(n), False) for n in args.harvard_only.split(",") if n]
                                    + [(n, True) for n in sizes])
    last: EnrolResult | None = None
    for bar_name, (n, near) in [(b, r) for b in args.bars.split(",") for r in runs]:
        bar, _, floor = bar_name.partition("@")
        readings, seconds = enrol_readings(n, args.variant, near) if n else ([], 0.0)
        t0 = time.process_time()
        last = enroll(MODEL, takes, room_tone=tone, readings=readings, cache=enrol_cache,
                      base_threshold=EVERY_CHUNK if bar == "all" else float(bar),
                      positive_threshold=float(floor) if floor else None)
        v = last.verifier
        what = "" if near or not n else " (Harvard sentences alone)"
        print(f"bar {bar_name}: "
              f"enrolment with {n} sentences per voice{what} ({seconds:.0f} s of speech each): "
              f"{last.takes_heard}/{last.takes} takes heard, {last.positive_windows} positive, "
              f"{last.negative_windows} negative windows ({last.reading_windows} of readings);"
              f" {time.process_time() - t0:.0f} s CPU; threshold chosen {v.threshold:.4f}",
              flush=True)
        for corpus in corpora:
            print(f" seed offset {corpus.offset}:")
            for k in [int(x) for x in args.consecutive.split(",")]:
                if k > 1:
                    print(f"  {k} chunks in a row:")
                report(v, corpus.clips, corpus.ends, corpus.cands, k=k)
            for spec in [x for x in args.looks.split(",") if x]:
                head, _, look_bar = spec.partition("/")
                maybe, _, factor = head.partition("x")
                lks = corpus.looks(float(maybe), float(factor or 1.3))
                print(f"  with second looks at {spec}: looks "
                      + ", ".join(f"{lab} {len(lks[lab, o])} (onset {o or 'off'}, "
                                  f"{lks[lab, o].cpu_s:.0f} s CPU)"
                                  for lab in ("speech", "noise", "positives") for o in ONSETS))

                def scored(label: str, onset: int | None, lks: dict = lks,
                           bar: float = float(look_bar or 0)) -> list[tuple[int, float]]:
                    return with_looks(corpus.cands[label, onset], lks[label, onset], v, bar)

                report(v, corpus.clips, corpus.ends, corpus.cands, scored)
        c = corpora[0].cands["speech", None]
        print(f"  verifier CPU per candidate {1e6 * cpu_per_candidate(v, c):.0f} µs (the "
              f"gated model: {1e3 * c.cpu_s / (c.seconds / 0.08):.1f} ms per 80 ms of the "
              "speech hour)", flush=True)
    if args.check and last is not None:
        for corpus in corpora:
            check(last.verifier, corpus.samples, corpus.ends, corpus.speech, corpus.noise)


class Corpus:
    """bench_wakeword's corpus of one seed offset and its candidates."""

    def __init__(self, cache: Path, offset: int) -> None:
        cache.mkdir(parents=True, exist_ok=True)
        self.cache, self.offset = cache, offset
        self.clips = B.load_positives(cache, [MODEL], False, offset)
        self.noise, self.speech = B.load_negatives(cache, 60, offset)
        self.samples, self.ends = B.positive_stream(self.clips)
        self.cands = {(label, onset): candidates(cache, MODEL, label, stream, onset)
                      for onset in ONSETS
                      for label, stream in (("positives", self.samples), ("noise", self.noise),
                                            ("speech", self.speech))}

    def looks(self, maybe: float, factor: float) -> dict[tuple[str, int | None], Looks]:
        streams = (("positives", self.samples), ("noise", self.noise), ("speech", self.speech))
        return {(label, onset): looks(self.cache, MODEL, label, stream,
                                      self.cands[label, onset], onset, maybe, factor)
                for onset in ONSETS for label, stream in streams}


if __name__ == "__main__":
    main()
