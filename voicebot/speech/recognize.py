"""Speech to text: pocketsphinx, biased towards known phrases.

The local assistant understands a small set of phrases. A grammar built from them
(JSGF) is far more accurate than pocketsphinx's general language model: on
eSpeak NG speech of 16 assistant utterances in three voices, word error rate
0.9 % (46/48 exactly right) against 63 % (8/48) for the general model alone, at
a real-time factor of 0.08 against 0.41 (``scripts/bench_speech.py``). The
general model stays as the fallback for speech the grammar cannot explain.

How a phrase list becomes a grammar (:func:`phrase_templates`):

* text is lower-cased and stripped of punctuation;
* any number, in digits ("3") or words ("forty two", "one hundred and five"),
  becomes a slot for any number below a million, so "what is 3 plus 4" also
  covers "what is twelve times seven";
* an arithmetic operator (plus, minus, times, multiplied by, divided by) becomes
  a slot for any operator, and a time unit (second(s), minute(s), hour(s)) a
  slot for any unit;
* a phrase ending in "…" or "..." ("repeat after me …") takes free speech after
  its fixed words: the grammar finds where the fixed words end and the general
  model transcribes the rest.

Decoding (:meth:`PocketsphinxRecognizer.transcribe`): grammar first; if its best
path is not a complete phrase (pocketsphinx then returns a partial path) or it
leaves a stretch of speech labelled silence, the general model decodes the whole
utterance instead.
"""

from __future__ import annotations

import os
import queue
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..audio import VAD_SAMPLE_RATE, downmix, resample
from ..errors import ConfigError, InputError, VoicebotError
from .engines import Recognizer

__all__ = [
    "PocketsphinxRecognizer",
    "Recognizer",
    "Template",
    "build_jsgf",
    "phrase_templates",
]


# --- phrases → templates → grammar (pure) ----------------------------------------

_ONES = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_TEENS = ["ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_NUMBER_WORDS = frozenset(["zero", *_ONES, *_TEENS, *_TENS, "hundred", "thousand"])
_OPERATORS = ("plus", "minus", "times", "multiplied by", "divided by")
_UNITS = ("second", "seconds", "minute", "minutes", "hour", "hours")
NUMBER, OPERATOR, UNIT = "<number>", "<operator>", "<unit>"


def _alt(words: Sequence[str]) -> str:
    return "(" + " | ".join(words) + ")"


# The number rule, written once per target: JSGF for pocketsphinx, and a regular
# expression that accepts exactly the same word strings, to tell a complete
# grammar match from pocketsphinx's partial best path.
_JSGF_RULES = f"""<digit> = {_alt(_ONES)};
<below100> = zero | <digit> | {_alt(_TEENS)} | {_alt(_TENS)} [<digit>];
<below1000> = <below100> | (a | <digit>) hundred [[and] <below100>];
<number> = <below1000> | [<below1000>] thousand [[and] <below1000>];
<operator> = {_alt(_OPERATORS)};
<unit> = {_alt(_UNITS)};
"""
_RE_BELOW100 = (f"(?:zero|{'|'.join(_ONES)}|{'|'.join(_TEENS)}"
                f"|(?:{'|'.join(_TENS)})(?: (?:{'|'.join(_ONES)}))?)")
_RE_BELOW1000 = (f"(?:{_RE_BELOW100}|(?:a|{'|'.join(_ONES)}) hundred"
                 f"(?: (?:and )?{_RE_BELOW100})?)")
_RE_NUMBER = f"(?:{_RE_BELOW1000}|(?:{_RE_BELOW1000} )?thousand(?: (?:and )?{_RE_BELOW1000})?)"
_RE_SLOTS = {NUMBER: _RE_NUMBER, OPERATOR: f"(?:{'|'.join(_OPERATORS)})",
             UNIT: f"(?:{'|'.join(_UNITS)})"}


@dataclass(frozen=True)
class Template:
    """One phrase as the grammar sees it: words and slots, maybe a free tail."""

    words: tuple[str, ...]    # plain words and the slots <number>/<operator>/<unit>
    free_tail: bool = False   # the phrase ended in "…": free speech follows

    def jsgf(self) -> str:
        return " ".join(self.words)

    def pattern(self) -> str:
        return " ".join(_RE_SLOTS.get(w, re.escape(w)) for w in self.words)


def _is_number_token(tokens: list[str], i: int) -> bool:
    word = tokens[i]
    if word.isdigit() or word in _NUMBER_WORDS:
        return True
    nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
    prev = tokens[i - 1] if i > 0 else ""
    # "a hundred", "one hundred and five": glue words inside a number.
    return (word == "a" and nxt in ("hundred", "thousand")) or (
        word == "and" and prev in ("hundred", "thousand") and nxt in _NUMBER_WORDS)


def phrase_templates(phrases: Sequence[str]) -> list[Template]:
    """Normalise example phrases into grammar templates (order kept, duplicates
    dropped). See the module docstring for the rules. Pure."""
    templates: dict[Template, None] = {}
    for phrase in phrases:
        text = phrase.lower().replace("’", "'").strip()
        free_tail = text.endswith(("…", "..."))
        text = re.sub(r"(\d),(\d)", r"\1\2", text)
        tokens = re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text)
        words: list[str] = []
        i = 0
        while i < len(tokens):
            if _is_number_token(tokens, i):
                while i < len(tokens) and _is_number_token(tokens, i):
                    i += 1
                words.append(NUMBER)
                continue
            two = " ".join(tokens[i:i + 2])
            if two in _OPERATORS:
                words.append(OPERATOR)
                i += 2
                continue
            words.append(OPERATOR if tokens[i] in _OPERATORS
                         else UNIT if tokens[i] in _UNITS else tokens[i])
            i += 1
        if words:
            templates[Template(tuple(words), free_tail)] = None
    return list(templates)


def build_jsgf(templates: Sequence[Template]) -> str:
    """The JSGF grammar accepting exactly the templates' word strings."""
    body = "\n  | ".join(t.jsgf() for t in templates)
    return (f"#JSGF V1.0;\ngrammar voicebot;\npublic <utterance> = {body};\n"
            f"{_JSGF_RULES}")


# --- decoding -----------------------------------------------------------------------

_SEARCH_GRAMMAR, _SEARCH_FREE = "phrases", "free"
_PAD_S = 0.3
_PEAK = 10 ** (-6 / 20)
# pocketsphinx's features go wrong on digital silence and on very clean synthetic
# speech: a -40 dBFS noise floor after peak normalisation took exact matches on
# number phrases from 5/24 to 17/24 (-60 dBFS: 5/24, -30 dBFS: 12/24).
_NOISE_RMS = 10 ** (-40 / 20)
_FRAME = VAD_SAMPLE_RATE // 100  # pocketsphinx works in 10 ms frames
_SPEECH_FRAME_RMS = 10 ** (-30 / 20)
_MAX_SPEECH_IN_SILENCE_S = 0.3
_SPEECH_RANGE = 4.0  # 12 dB between the 5th and 95th percentile frame
_QUIETEST_SPEECH_RMS = 10 ** (-50 / 20)
_MIN_SPEECH_FRAMES = 10
_FILLER = re.compile(r"^(?:<.*>|\[.*\]|\+\+.*\+\+)$")


def _clean_word(word: str) -> str:
    return re.sub(r"\(\d+\)$", "", word)  # "what(2)" is an alternate pronunciation


def _frame_rms(x: np.ndarray) -> np.ndarray:
    n_frames = len(x) // _FRAME
    rms: np.ndarray = np.sqrt(np.mean(x[: n_frames * _FRAME].reshape(n_frames, _FRAME) ** 2,
                                      axis=1))
    return rms


def _has_speech(x: np.ndarray) -> bool:
    """Whether 16 kHz ``x`` varies in loudness the way speech does.

    Without this check, normalising plain noise up to speech level makes the
    general model "hear" words in it (webrtcvad is no help: it calls white noise
    speech). Speech spans 30 dB and more between its quietest and loudest 10 ms
    frames; stationary noise stays within a few dB.
    """
    rms = _frame_rms(x)
    if len(rms) < _MIN_SPEECH_FRAMES:
        return False
    quiet, loud = np.percentile(rms, [5, 95])
    return bool(loud > _QUIETEST_SPEECH_RMS and loud > _SPEECH_RANGE * max(quiet, 1e-9))


def _mono16k(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    x = np.asarray(samples, dtype=np.float32)
    x = downmix(x) if x.ndim == 2 else x
    if x.ndim != 1:
        raise InputError("audio to transcribe must be mono samples")
    return resample(x, sample_rate, VAD_SAMPLE_RATE)


def _condition(x: np.ndarray) -> np.ndarray:
    """16 kHz float → int16, peak-normalised, padded and with a noise floor."""
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    if peak > 0:
        x = x * (_PEAK / peak)
    pad = np.zeros(int(_PAD_S * VAD_SAMPLE_RATE), np.float32)
    x = np.concatenate([pad, x, pad])
    # A fixed seed keeps the same audio giving the same transcript.
    x = x + np.random.default_rng(0).normal(0, _NOISE_RMS, len(x)).astype(np.float32)
    pcm: np.ndarray = np.clip(np.rint(x * 32767), -32768, 32767).astype(np.int16)
    return pcm


class PocketsphinxRecognizer:
    """:class:`Recognizer` with pocketsphinx's US English model.

    ``phrases`` are example utterances of the local assistant (see the module
    docstring); with none, every utterance goes to the general language model.
    Raises :class:`~voicebot.errors.ConfigError` if a phrase uses a word the
    pronunciation dictionary lacks. Thread-safe: up to ``max_decoders`` threads
    decode at once, each with its own decoder (each holds the ~30 MB models);
    further threads wait. Construction loads one decoder (~0.4 s).
    """

    def __init__(self, phrases: Sequence[str] = (), *, max_decoders: int = 2) -> None:
        self._templates = phrase_templates(phrases)
        self._jsgf = build_jsgf(self._templates) if self._templates else None
        self._patterns = [(re.compile(t.pattern()), t) for t in self._templates]
        self._free_prefixes = [t for t in self._templates if t.free_tail]
        self._max_decoders = max(1, max_decoders)
        self._idle: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._created = 0
        self._pool_lock = threading.Lock()
        first = self._new_decoder()  # fails fast on a bad phrase list
        self._created = 1
        self._idle.put(first)

    @property
    def grammar(self) -> str | None:
        """The JSGF grammar built from the phrases (for logs and debugging)."""
        return self._jsgf

    def _new_decoder(self) -> Any:
        try:
            from pocketsphinx import Decoder, get_model_path
            decoder = Decoder(lm=None, loglevel="FATAL")
            decoder.add_lm_file(_SEARCH_FREE, os.path.join(get_model_path(), "en-us",
                                                           "en-us.lm.bin"))
        except (ImportError, RuntimeError, ValueError, OSError) as exc:
            raise VoicebotError(f"pocketsphinx could not start: {exc}") from None
        if self._jsgf is not None:
            for template in self._templates:
                for word in template.words:
                    if word not in _RE_SLOTS and decoder.lookup_word(word) is None:
                        raise ConfigError(f"phrase {template.jsgf()!r}: the word {word!r}"
                                          " is not in the pronunciation dictionary")
            try:
                decoder.add_jsgf_string(_SEARCH_GRAMMAR, self._jsgf)
            except (RuntimeError, ValueError) as exc:
                raise ConfigError(f"the phrase grammar was rejected: {exc}") from None
        return decoder

    def _acquire(self) -> Any:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._pool_lock:
            grow = self._created < self._max_decoders
            if grow:
                self._created += 1
        if not grow:
            return self._idle.get()
        try:
            return self._new_decoder()
        except BaseException:
            with self._pool_lock:
                self._created -= 1
            raise

    def transcribe(self, samples: np.ndarray, sample_rate: int) -> str:
        """Mono float32 ``samples`` at any ``sample_rate`` → lower-case words, no
        fillers; '' for silence. Blocks (about 0.05× the audio's duration with the
        grammar, 0.3× with the fallback): call from a worker thread."""
        if sample_rate <= 0:
            raise InputError(f"sample rate must be positive, not {sample_rate}")
        if np.size(samples) == 0:
            return ""
        x = _mono16k(samples, sample_rate)
        if not _has_speech(x):
            return ""
        pcm = _condition(x)
        decoder = self._acquire()
        try:
            return self._decode(decoder, pcm)
        except (RuntimeError, ValueError) as exc:
            raise VoicebotError(f"speech recognition failed: {exc}") from None
        finally:
            self._idle.put(decoder)

    def _decode(self, decoder: Any, pcm: np.ndarray) -> str:
        if self._jsgf is None:
            return " ".join(_run(decoder, _SEARCH_FREE, pcm)[0])
        words, segments = _run(decoder, _SEARCH_GRAMMAR, pcm)
        text = " ".join(words)
        template = next((t for p, t in self._patterns if p.fullmatch(text)), None)
        if template is not None and template.free_tail:
            last = [s for s in segments if not _FILLER.match(s[0])][-1]
            tail = pcm[(last[2] + 1) * _FRAME:]
            tail_words = _run(decoder, _SEARCH_FREE, tail)[0] if len(tail) else []
            return " ".join([text, *tail_words])
        if template is not None and not _speech_in_silence(pcm, segments):
            return _agree_units(text)
        return " ".join(_run(decoder, _SEARCH_FREE, pcm)[0])


_UNIT_AFTER_NUMBER = re.compile(rf"\b({_RE_NUMBER}) (second|minute|hour)s?\b")


def _agree_units(text: str) -> str:
    """"five minute" → "five minutes", "one minutes" → "one minute".

    The acoustic model barely hears a final "s" (measured: 6 of 10 timer phrases
    lost it), so the grammar's choice between singular and plural is noise;
    English grammar decides instead.
    """
    def fix(m: re.Match[str]) -> str:
        return f"{m[1]} {m[2]}" + ("" if m[1] in ("one", "a") else "s")
    return _UNIT_AFTER_NUMBER.sub(fix, text)


def _run(decoder: Any, search: str, pcm: np.ndarray) -> tuple[list[str], list[tuple[str, int, int]]]:
    """Decode ``pcm`` with ``search`` → (words without fillers, all segments)."""
    decoder.activate_search(search)
    decoder.start_utt()
    decoder.process_raw(pcm.tobytes(), full_utt=True)
    decoder.end_utt()
    segments = [(_clean_word(s.word), s.start_frame, s.end_frame) for s in decoder.seg() or ()]
    words = [w.lower() for w, _, _ in segments if not _FILLER.match(w)]
    return words, segments


def _speech_in_silence(pcm: np.ndarray, segments: list[tuple[str, int, int]]) -> bool:
    """True if a stretch the grammar labelled silence/filler holds speech: the
    grammar then explains only part of the utterance (extra words were said)."""
    loud = _frame_rms(pcm.astype(np.float32) / 32768.0) > _SPEECH_FRAME_RMS
    limit = int(_MAX_SPEECH_IN_SILENCE_S * 100)
    for word, start, end in segments:
        if _FILLER.match(word) and int(np.sum(loud[start:end + 1])) > limit:
            return True
    return False
