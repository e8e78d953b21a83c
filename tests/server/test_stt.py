"""Tests for voicebot.speech.recognize: the phrase grammar (pure) and pocketsphinx
recognition of eSpeak NG speech (the text spoken is the ground truth)."""

from __future__ import annotations

import re
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from speech import synth

from voicebot.errors import ConfigError
from voicebot.speech.recognize import (
    NUMBER,
    OPERATOR,
    UNIT,
    PocketsphinxRecognizer,
    Template,
    build_jsgf,
    phrase_templates,
)
from voicebot.speech.synth import Synthesizer

ASSISTANT_PHRASES = [
    "what time is it", "what is the time", "what's the date", "what day is it",
    "what is twelve times seven", "what is 3 plus 4", "set a timer for five minutes",
    "how much time is left on my timer", "what can you do", "repeat after me …",
    "hello", "thank you", "goodbye",
]
# Spoken utterances: fixed phrases, and numbers/operators the examples do not list.
SPOKEN = [
    "what time is it", "what's the date", "what day is it", "what is twelve times seven",
    "what is three plus four", "set a timer for five minutes",
    "how much time is left on my timer", "what can you do", "hello", "thank you",
    "goodbye", "what is one hundred divided by four", "what is forty two minus seventeen",
    "set a timer for one minute",
]
FIXED = [p for p in SPOKEN if not re.search(r"\d|plus|minus|times|divided|timer for", p)]


def word_errors(ref: str, hyp: str) -> int:
    """Levenshtein distance between word sequences (substitutions + insertions +
    deletions): the numerator of the word error rate."""
    r, h = ref.split(), hyp.split()
    row = list(range(len(h) + 1))
    for i, rw in enumerate(r, 1):
        prev, row[0] = row[0], i
        for j, hw in enumerate(h, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (rw != hw))
    return row[-1]


def wer(pairs: list[tuple[str, str]]) -> float:
    return sum(word_errors(r, h) for r, h in pairs) / sum(len(r.split()) for r, _ in pairs)


@pytest.fixture(scope="module")
def biased() -> PocketsphinxRecognizer:
    return PocketsphinxRecognizer(ASSISTANT_PHRASES)


@pytest.fixture(scope="module")
def tts() -> Synthesizer:
    return Synthesizer()


# --- phrases → grammar (pure) ------------------------------------------------------

@pytest.mark.parametrize("phrase, words, free_tail", [
    ("What time is it?", ("what", "time", "is", "it"), False),
    ("what is 3 plus 4", ("what", "is", NUMBER, OPERATOR, NUMBER), False),
    ("What is one hundred and five divided by a thousand", ("what", "is", NUMBER, OPERATOR,
                                                            NUMBER), False),
    ("set a timer for 1,500 seconds", ("set", "a", "timer", "for", NUMBER, UNIT), False),
    ("Repeat after me …", ("repeat", "after", "me"), True),
    ("repeat after me...", ("repeat", "after", "me"), True),
    ("What’s the date", ("what's", "the", "date"), False),
])
def test_phrase_templates(phrase: str, words: tuple[str, ...], free_tail: bool) -> None:
    assert phrase_templates([phrase]) == [Template(words, free_tail)]


def test_templates_deduplicate_and_keep_order() -> None:
    out = phrase_templates(["hello", "what is 1 plus 2", "Hello!", "what is six times nine"])
    assert [t.jsgf() for t in out] == ["hello", "what is <number> <operator> <number>"]
    grammar = build_jsgf(out)
    assert "public <utterance> = hello\n  | what is <number> <operator> <number>;" in grammar


_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_TEENS = ["ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def spell(n: int, *, use_and: bool) -> str:
    """English words for 0 <= n < 1,000,000 (the test's own ground truth)."""
    def below1000(m: int) -> str:
        hundreds, rest = divmod(m, 100)
        parts = [f"{_ONES[hundreds]} hundred"] if hundreds else []
        if rest:
            if parts and use_and:
                parts.append("and")
            if rest < 10:
                parts.append(_ONES[rest])
            elif rest < 20:
                parts.append(_TEENS[rest - 10])
            else:
                parts.append(_TENS[rest // 10] + (f" {_ONES[rest % 10]}" if rest % 10 else ""))
        return " ".join(parts)
    if n == 0:
        return "zero"
    thousands, rest = divmod(n, 1000)
    head = f"{below1000(thousands)} thousand" if thousands else ""
    tail = below1000(rest)
    return " ".join(p for p in (head, "and" if head and tail and use_and and rest < 100 else "",
                                tail) if p)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 999_999), st.integers(0, 999_999), st.booleans(),
       st.sampled_from(["plus", "minus", "times", "multiplied by", "divided by"]))
def test_number_slot_accepts_every_number(a: int, b: int, use_and: bool, op: str) -> None:
    pattern = re.compile(phrase_templates(["what is 3 plus 4"])[0].pattern())
    assert pattern.fullmatch(f"what is {spell(a, use_and=use_and)} {op} "
                             f"{spell(b, use_and=use_and)}")


def test_number_slot_rejects_non_numbers() -> None:
    pattern = re.compile(phrase_templates(["what is 3 plus 4"])[0].pattern())
    for text in ["what is plus four", "what is three plus", "what is hundred and plus two",
                 "what is three four", "what is three and plus four"]:
        assert not pattern.fullmatch(text), text


def test_unknown_word_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="qwzxv"):
        PocketsphinxRecognizer(["hello qwzxv"])


# --- recognition ------------------------------------------------------------------

def test_assistant_phrases_in_espeak_voices(biased: PocketsphinxRecognizer) -> None:
    pairs = [(p, biased.transcribe(synth(p, 16_000, voice=v), 16_000))
             for v in ("en-us", "en-gb", "en-us+f2") for p in SPOKEN]
    exact = sum(r == h for r, h in pairs) / len(pairs)
    # Measured: WER 0.5 %, 41/42 exact (scripts/bench_speech.py prints a table).
    assert wer(pairs) <= 0.06 and exact >= 0.85, [p for p in pairs if p[0] != p[1]]
    assert all(h == r for r, h in pairs if r in FIXED), [
        (r, h) for r, h in pairs if r in FIXED and h != r]


def test_round_trip_through_our_tts(biased: PocketsphinxRecognizer, tts: Synthesizer) -> None:
    pairs = []
    for voice in ("alloy", "onyx", "coral"):
        for p in SPOKEN:
            pcm = tts.synthesize_all(p, voice=voice)
            x = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
            pairs.append((p, biased.transcribe(x, tts.sample_rate)))
    # Measured: WER 3.2 %, 38/42 exact; the number slot (any number) is the weak spot.
    assert wer(pairs) <= 0.1, [p for p in pairs if p[0] != p[1]]
    # eSpeak NG's output depends on what it synthesised before (its wave generator
    # keeps state across calls), so in a full run the audio here is not the same
    # from run to run: one miss in the 24 fixed phrases is allowed (seen once in
    # about 10 full runs; 0 misses in 192 in a loop of this test).
    missed = [(r, h) for r, h in pairs if r in FIXED and h != r]
    assert len(missed) <= 1, missed


def test_bias_beats_free_form() -> None:
    free = PocketsphinxRecognizer()
    biased = PocketsphinxRecognizer(ASSISTANT_PHRASES, max_decoders=1)
    sample = SPOKEN[::2]
    audio = [synth(p, 16_000, voice="en-us") for p in sample]
    free_wer = wer([(p, free.transcribe(x, 16_000)) for p, x in zip(sample, audio)])
    biased_wer = wer([(p, biased.transcribe(x, 16_000)) for p, x in zip(sample, audio)])
    assert biased_wer < 0.05
    assert free_wer > 0.3


def test_free_tail_after_fixed_words(biased: PocketsphinxRecognizer) -> None:
    text = biased.transcribe(synth("repeat after me I love pizza", 16_000), 16_000)
    assert text.startswith("repeat after me ") and text.endswith("love pizza")


def test_out_of_grammar_speech_is_not_forced_into_a_phrase(
        biased: PocketsphinxRecognizer) -> None:
    text = biased.transcribe(synth("the weather is nice today", 16_000, voice="en-gb"), 16_000)
    patterns = [re.compile(t.pattern()) for t in phrase_templates(ASSISTANT_PHRASES)]
    assert text and not any(p.fullmatch(text) for p in patterns)


@pytest.mark.parametrize("rate", [8_000, 22_050, 48_000])
def test_any_sample_rate(biased: PocketsphinxRecognizer, rate: int) -> None:
    assert biased.transcribe(synth("what time is it", rate), rate) == "what time is it"


def test_silence_and_noise_give_nothing(biased: PocketsphinxRecognizer) -> None:
    rng = np.random.default_rng(3)
    assert biased.transcribe(np.zeros(16_000, np.float32), 16_000) == ""
    assert biased.transcribe(rng.normal(0, 0.01, 32_000).astype(np.float32), 16_000) == ""
    assert biased.transcribe(np.zeros(0, np.float32), 16_000) == ""


def test_concurrent_threads_get_their_own_results() -> None:
    recognizer = PocketsphinxRecognizer(ASSISTANT_PHRASES, max_decoders=2)
    phrases = ["what time is it", "what is three plus four", "goodbye", "what can you do"]
    audio = {p: synth(p, 16_000) for p in phrases}
    expected = {p: recognizer.transcribe(audio[p], 16_000) for p in phrases}
    got: dict[str, list[str]] = {p: [] for p in phrases}

    def work(p: str) -> None:
        for _ in range(2):
            got[p].append(recognizer.transcribe(audio[p], 16_000))

    threads = [threading.Thread(target=work, args=(p,)) for p in phrases]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert got == {p: [expected[p]] * 2 for p in phrases}
