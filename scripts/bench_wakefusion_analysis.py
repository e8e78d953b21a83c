"""The analysis of scripts/bench_wakefusion.py: cascade and fusion rules on score traces.

Everything here works on the traces (both engines' score on every chunk, the VAD per
block): no model runs. Positions are capture samples at 16 kHz.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from voicebot.kiosk.gate import GateConfig, SpeechGate

RATE = 16_000
BLOCK = 960
OWW_CHUNK = 1280
MWW_CHUNK = 480
STEP = 160  # common grid of both engines' chunk ends (gcd of 1280 and 480)
BEFORE, AFTER = 1 * RATE, RATE * 3 // 2  # a hit: within -1 s … +1.5 s of the word's end
OWW_WARMUP = 24 * OWW_CHUNK


def on_grid(scores: np.ndarray, chunk: int, n_steps: int) -> np.ndarray:
    """Scores placed at their chunk's end on the STEP grid (elsewhere 0)."""
    g = np.zeros(n_steps, np.float32)
    idx = (np.arange(1, len(scores) + 1) * chunk) // STEP - 1
    ok = (idx < n_steps) & ~np.isnan(scores)
    g[idx[ok]] = scores[ok]
    return g


def recent_max(g: np.ndarray, window: int) -> np.ndarray:
    """At each grid point, the max over the last ``window`` samples (causal)."""
    w = max(1, window // STEP)
    padded = np.concatenate([np.zeros(w - 1, g.dtype), g])
    return sliding_window_view(padded, w).max(axis=1)


def grids(t: Any, window: int, oww: np.ndarray | None = None, mww: np.ndarray | None = None
          ) -> tuple[np.ndarray, np.ndarray]:
    n = t.samples // STEP
    o = t.oww if oww is None else oww
    o = o.copy()
    if oww is None:
        o[:OWW_WARMUP // OWW_CHUNK] = np.nan
    return (recent_max(on_grid(o, OWW_CHUNK, n), window),
            recent_max(on_grid(t.mww if mww is None else mww, MWW_CHUNK, n), window))


def take_windows(ends: list[int]) -> list[slice]:
    return [slice(max(0, (e - BEFORE) // STEP), (e + AFTER) // STEP) for e in ends]


def per_take_max(g: np.ndarray, wins: list[slice]) -> np.ndarray:
    return np.array([g[w].max() for w in wins])


# -- the cascade ----------------------------------------------------------------------

def cascade_chunks(t: Any, first_threshold: float | None, preroll: int, hangover: int,
                   onset_window: int | None = None, run_limit: int | None = None
                   ) -> tuple[np.ndarray, int]:
    """openWakeWord's chunks a SpeechGate hands over (scored ones: score, others NaN) when
    its "voiced" input is microWakeWord's score >= ``first_threshold`` in the block (None:
    the VAD, as today); and how many chunks it ran."""
    gate = SpeechGate(GateConfig(chunk_samples=OWW_CHUNK, preroll_samples=preroll,
                                 hangover_samples=hangover, warmup_samples=OWW_WARMUP,
                                 catchup_chunks=4, run_limit_samples=run_limit))
    zeros = np.zeros(BLOCK, np.int16)
    n_mww = len(t.mww)
    mww = np.nan_to_num(t.mww, nan=0.0)
    out = np.full(len(t.oww), np.nan, np.float32)
    ran = 0
    for k in range(len(t.voiced)):
        if first_threshold is None:
            voiced = bool(t.voiced[k])
        else:
            lo, hi = (k * BLOCK) // MWW_CHUNK, min(n_mww, ((k + 1) * BLOCK) // MWW_CHUNK)
            voiced = bool(hi > lo and mww[lo:hi].max() >= first_threshold)
        for c in gate.feed(zeros, k * BLOCK, voiced):
            ran += 1
            i = c.end_position // OWW_CHUNK - 1
            onset = gate.speech_onset
            late = (onset_window is not None and onset is not None
                    and c.end_position - onset > onset_window)
            if c.scored and i < len(out) and not late:
                out[i] = t.oww[i]
    return out, ran


def onsets(t: Any) -> np.ndarray:
    """The gate's speech onset after each block (-1: none yet), as the trigger sees it."""
    gate = SpeechGate(GateConfig(chunk_samples=OWW_CHUNK, always_open=True))
    zeros = np.zeros(BLOCK, np.int16)
    out = np.full(len(t.voiced), -1, np.int64)
    for k in range(len(t.voiced)):
        gate.feed(zeros, k * BLOCK, bool(t.voiced[k]))
        out[k] = -1 if gate.speech_onset is None else gate.speech_onset
    return out


def onset_masked_mww(t: Any, window: int) -> np.ndarray:
    """microWakeWord's scores, NaN where the chunk ends over ``window`` after the onset."""
    on = onsets(t)
    ends = (np.arange(len(t.mww)) + 1) * MWW_CHUNK
    blk = np.minimum((ends - 1) // BLOCK, len(on) - 1)
    late = (on[blk] >= 0) & (ends - on[blk] > window)
    return np.where(late, np.nan, t.mww)


def gate_row(pos: Any, negs: dict[str, Any], wins: list[slice], first_threshold: float | None,
             preroll: int, hangover: int, onset_window: int | None = None,
             run_limit: int | None = None) -> tuple[np.ndarray, list[float], list[float]]:
    """One gate on the positives and both negative hours: the takes openWakeWord finds at
    0.5 behind it, the share of each stream it ran on, and each hour's highest score."""
    scores, ran = cascade_chunks(pos, first_threshold, preroll, hangover, onset_window,
                                 run_limit)
    hits = per_take_max(grids(pos, OWW_CHUNK, scores)[0], wins) >= 0.5
    shares, negmax = [ran * OWW_CHUNK / pos.samples], []
    for name in ("noise", "speech"):
        s, ran = cascade_chunks(negs[name], first_threshold, preroll, hangover, onset_window,
                                run_limit)
        shares.append(ran * OWW_CHUNK / negs[name].samples)
        negmax.append(float(np.nanmax(s)) if np.any(~np.isnan(s)) else 0.0)
    return hits, shares, negmax


def part_cascade(pos: Any, ends: list[int], negs: dict[str, Any]) -> None:
    wins = take_windows(ends)
    o_all, _ = grids(pos, OWW_CHUNK)
    base = per_take_max(o_all, wins) >= 0.5
    print(f"\ncascade: openWakeWord (0.5) handed audio only around microWakeWord's score "
          f">= t1 (gate pre-roll/hangover); openWakeWord alone, ungated: {base.sum()}/{len(ends)}")
    print("  first stage               ran on: positives  noise h  speech h   hits at 0.5 "
          "(lost vs alone)   negatives' highest oww")
    window = 1800 * 16
    rows: list[tuple[str, float | None, int, int, int | None]] = [
        ("VAD (today)", None, 32_000, 16_000, None),
        # the onset window, and the gate stopping once it is over (against the window alone)
        ("VAD, onset window 1.8 s", None, 32_000, 16_000, window)]
    for t1 in (0.01, 0.02, 0.05, 0.1, 0.2, 0.3):
        for pre, hang in ((32_000, 16_000), (48_000, 16_000)):
            rows.append((f"mww >= {t1:g}, pre {pre // RATE} s", t1, pre, hang, None))
    for label, t1, pre, hang, onset_window in rows:
        if onset_window is not None:
            base, _, _ = gate_row(pos, negs, wins, t1, pre, hang, onset_window)
            label += ", gate stops after it"
        hits, shares, negmax = gate_row(pos, negs, wins, t1, pre, hang, onset_window,
                                        onset_window)
        print(f"  {label:<26} {100 * shares[0]:6.1f} %  {100 * shares[1]:6.2f} %  "
              f"{100 * shares[2]:6.1f} %   {hits.sum():3d}/{len(ends)} "
              f"({(base & ~hits).sum()} lost, {(hits & ~base).sum()} gained)   "
              f"noise {negmax[0]:.3f}, speech {negmax[1]:.3f}", flush=True)


# -- the scores per take ---------------------------------------------------------------

def part_per_take(pos: Any, ends: list[int], names: list[str]) -> None:
    wins = take_windows(ends)
    o, m = grids(pos, OWW_CHUNK)
    om, mm = per_take_max(o, wins), per_take_max(m, wins)
    det = om >= 0.5
    print(f"\nper take, highest score within -1 … +1.5 s of the word's end ({len(ends)} takes)")
    print(f"  openWakeWord >= 0.5 on {det.sum()} takes; microWakeWord's highest on those: "
          f"min {mm[det].min():.3f}, 5th pct {np.percentile(mm[det], 5):.3f}, median "
          f"{np.median(mm[det]):.3f}")
    for t1 in (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5):
        print(f"    microWakeWord >= {t1:<5g}: {(mm[det] >= t1).sum():3d}/{det.sum()} of them, "
              f"{(mm >= t1).sum():3d}/{len(ends)} of all")
    low = np.argsort(mm + 10 * ~det)[:6]
    print("  lowest microWakeWord scores among openWakeWord's hits: " + "; ".join(
        f"{names[i]} oww {om[i]:.2f} mww {mm[i]:.3f}" for i in low))
    for label, sel in (("missed by openWakeWord (< 0.5)", ~det),):
        print(f"  {label}: {sel.sum()} takes; microWakeWord >= 0.5 on {(mm[sel] >= 0.5).sum()}, "
              f">= 0.1 on {(mm[sel] >= 0.1).sum()}")
    by: dict[str, list[int]] = {}
    for i, n in enumerate(names):
        _, vw, _, _, q = n.split("/")
        for key in (vw.split("@")[1] + " wpm", "question" if q == "q" else "alone"):
            by.setdefault(key, []).append(i)
    print("  by kind: " + "; ".join(f"{k}: oww {100 * np.mean(om[v] >= 0.5):.0f} %, "
                                    f"mww>=0.5 {100 * np.mean(mm[v] >= 0.5):.0f} %"
                                    for k, v in sorted(by.items())))


# -- fusion rules ------------------------------------------------------------------------

GRID = np.round(np.concatenate([np.arange(0.01, 0.1, 0.01), np.arange(0.1, 0.99, 0.02),
                                [0.99, 0.995, 0.999, 1.0001]]), 4)


def part_fusion(pos: Any, ends: list[int], names: list[str], negs: dict[str, Any],
                window: int, onset_window: int | None = None, mww_onset: bool = False) -> None:
    wins = take_windows(ends)
    # openWakeWord as shipped: VAD-gated (its scores where the gate ran it once warm)
    def both(t: Any) -> tuple[np.ndarray, np.ndarray]:
        mww = onset_masked_mww(t, onset_window) if mww_onset and onset_window else None
        return grids(t, window, cascade_chunks(t, None, 32_000, 16_000, onset_window)[0], mww)

    o, m = both(pos)
    neg = [both(negs[k]) for k in ("noise", "speech")]
    no = np.concatenate([g[0] for g in neg])
    nm = np.concatenate([g[1] for g in neg])
    voice = np.array([n.split("/")[1].split("@")[0] for n in names])
    voices = list(dict.fromkeys(voice))
    tune = np.isin(voice, voices[0::2])
    print(f"\nfusion rules (openWakeWord VAD-gated as shipped, microWakeWord on every chunk; scores: each engine's highest over the last {window / RATE:g} s); "
          f"0 false accepts over both negative hours; tuned on voices {', '.join(voices[0::2])} "
          f"({tune.sum()} takes), tested on {', '.join(voices[1::2])}")
    if onset_window is not None:
        print(f"  (openWakeWord's scores count only within {onset_window / RATE:g} s of the "
              "start of a run of speech: the detector's onset_window_ms)"
              + (" — microWakeWord's too" if mww_onset else ""))
    print(f"  negatives' highest: oww {no.max():.4f}, mww {nm.max():.4f}")

    def hits(fire: np.ndarray) -> np.ndarray:
        return np.array([fire[w].any() for w in wins])

    def report(label: str, fire: np.ndarray, margin: str) -> None:
        h = hits(fire)
        print(f"  {label:<44} tune {100 * h[tune].mean():5.1f} %  test {100 * h[~tune].mean():5.1f} %"
              f"  all {h.sum():3d}/{len(h)} = {100 * h.mean():5.1f} %   {margin}", flush=True)

    def above(x: float) -> float:
        return float(GRID[GRID > x][0]) if (GRID > x).any() else 1.0001

    # each alone, at its lowest 0-FA grid threshold
    a0 = above(no.max())
    report(f"oww >= {a0:g}", o >= a0, f"neg best {no.max():.4f}")
    for a in (0.5,):
        report(f"oww >= {a:g} (FA: {int((no >= a).sum() > 0)}+)", o >= a, "")
    c0 = above(nm.max())
    report(f"mww >= {c0:g}", m >= c0, f"neg best {nm.max():.4f}")

    # oww >= a OR mww >= c: both at their 0-FA floor
    report(f"oww >= {a0:g} OR mww >= {c0:g}", (o >= a0) | (m >= c0), "")

    # alone terms at their 0-FA floors OR (oww >= b AND mww >= c): (b, c) on the tuning half
    for alone_label, alone in ((f"oww >= {a0:g}", o >= a0),
                               (f"oww >= {a0:g} OR mww >= {c0:g}", (o >= a0) | (m >= c0))):
        best: tuple[float, float, float, float] | None = None
        for c in GRID:
            sel = nm >= c
            b = above(float(no[sel].max()) if sel.any() else 0.0)
            if b > 1:
                continue
            h = hits(alone | ((o >= b) & (m >= c)))
            key = (float(h[tune].mean()), -float(c))
            if best is None or key > best[:2]:
                best = (key[0], key[1], float(b), float(c))
        if best is None:
            continue
        _, _, b, c = best
        sel = nm >= c
        nb = float(no[sel].max()) if sel.any() else 0.0
        sel2 = no >= b
        nc = float(nm[sel2].max()) if sel2.any() else 0.0
        report(f"{alone_label} OR (oww >= {b:g} AND mww >= {c:g})",
               alone | ((o >= b) & (m >= c)),
               f"neg best: oww {nb:.3f} where mww >= {c:g}, mww {nc:.3f} where oww >= {b:g}")
    # the AND term alone at round thresholds (margin: the negatives' best under each)
    for b2, c2 in ((0.5, 0.05), (0.5, 0.1), (0.5, 0.2), (0.3, 0.2), (0.5, 0.3), (0.3, 0.5),
                   (0.1, 0.5)):
        f = (o >= b2) & (m >= c2)
        sel = nm >= c2
        sel2 = no >= b2
        report(f"  oww >= {b2:g} AND mww >= {c2:g}", f,
               f"FA {int(((no >= b2) & (nm >= c2)).any())}; neg best: oww "
               f"{float(no[sel].max()) if sel.any() else 0.0:.3f} where mww >= {c2:g}, mww "
               f"{float(nm[sel2].max()) if sel2.any() else 0.0:.3f} where oww >= {b2:g}")

    # OR at round thresholds, for margin
    for a2, c2 in ((0.5, 0.7), (0.5, 0.8), (0.5, 0.9), (0.5, 0.97), (0.6, 0.8), (0.7, 0.9)):
        f = (o >= a2) | (m >= c2)
        report(f"  oww >= {a2:g} OR mww >= {c2:g}", f,
               f"FA {int((no >= a2).any() or (nm >= c2).any())}; margins oww "
               f"{a2 - no.max():+.3f}, mww {c2 - nm.max():+.3f}")

    # mean of the two
    s_neg = (no + nm) / 2
    s0 = above(float(s_neg.max()))
    report(f"(oww + mww) / 2 >= {s0:g}", (o + m) / 2 >= s0, f"neg best {s_neg.max():.4f}")


def analyse(pos: Any, ends: list[int], names: list[str], negs: dict[str, Any]) -> None:
    part_per_take(pos, ends, names)
    part_fusion(pos, ends, names, negs, RATE)
    part_fusion(pos, ends, names, negs, RATE, onset_window=1800 * 16)
    part_fusion(pos, ends, names, negs, RATE, onset_window=1800 * 16, mww_onset=True)
    part_cascade(pos, ends, negs)
