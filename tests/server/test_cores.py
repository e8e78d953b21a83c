"""Table tests and hypothesis properties for the server's pure cores."""

from __future__ import annotations

import base64
import datetime as dt
import json
import operator
import subprocess
from fractions import Fraction

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voicebot.errors import InputError, RequestError
from voicebot.server.assistant import SKILL_PHRASES, Assistant
from voicebot.server.chunks import ChunkWriter, Usage, completion_response
from voicebot.server.images import sniff_image
from voicebot.server.model import ToolCall, Turn
from voicebot.server.numbers import find_expression, tokenize
from voicebot.server.schemafill import FillHints, fill_schema
from voicebot.server.spec import validator_for_component
from voicebot.server.store import AudioStore
from voicebot.server.numbers import parse_duration_s
from voicebot.skills.timers import TimerBook
from voicebot.server.validate import parse_request

NOW = dt.datetime(2025, 3, 4, 15, 7, 9, tzinfo=dt.timezone.utc)

# An independent number speller, so spoken-number tests do not use the parser's tables.
_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
         "fourteen fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def spell(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return _ONES[n // 100] + " hundred" + ("" if rest == 0 else " and " + spell(rest))
    rest = n % 1000
    return spell(n // 1000) + " thousand" + ("" if rest == 0 else " " + spell(rest))


OPS = {"plus": operator.add, "minus": operator.sub, "times": operator.mul,
       "divided by": operator.truediv}


@given(a=st.integers(0, 99_999), b=st.integers(0, 99_999), op=st.sampled_from(sorted(OPS)),
       words=st.booleans())
def test_spoken_and_typed_arithmetic(a, b, op, words):
    text = f"what is {spell(a) if words else a} {op} {spell(b) if words else b}"
    expr = find_expression(tokenize(text))
    assert expr is not None
    if op == "divided by" and b == 0:
        assert expr.value is None and "zero" in expr.problem
    else:
        assert expr.value == OPS[op](Fraction(a), Fraction(b))


@pytest.mark.parametrize("text,value", [
    ("2 plus 3 times 4", 2 + 3 * 4), ("2 ^ 3 ^ 2", 2 ** 3 ** 2), ("10 - 4 - 3", 10 - 4 - 3),
    ("square root of 81", 9), ("7 squared", 49), ("17 mod 5", 17 % 5), ("12*7", 84),
    ("minus 3 times two", -6), ("one hundred and five over 5", 21), ("3.5 x 2", 7),
])
def test_arithmetic_table(text, value):
    assert find_expression(tokenize(text)).value == value


@pytest.mark.parametrize("text", ["hello", "what time is it", "set a timer", "over and out"])
def test_no_arithmetic(text):
    assert find_expression(tokenize(text)) is None


@given(h=st.integers(0, 23), m=st.integers(0, 59), s=st.integers(0, 59))
def test_timer_durations(h, m, s):
    parts = [f"{spell(n)} {unit}{'s' if n != 1 else ''}" for n, unit in
             ((h, "hour"), (m, "minute"), (s, "second")) if n]
    expected = h * 3600 + m * 60 + s
    got = parse_duration_s(tokenize("set a timer for " + " and ".join(parts)))
    assert got == (expected or None)


def test_timer_book_is_bounded_and_reports_time_left():
    book = TimerBook()
    for i in range(TimerBook.MAX_TIMERS + 5):
        book.set(60 + i, now_s=1000.0)
    timers = book.active(1000.0)
    assert len(timers) == TimerBook.MAX_TIMERS
    assert timers[-1].due_at == 1000.0 + 60 + TimerBook.MAX_TIMERS + 4
    assert book.active(1000.0 + 60 + TimerBook.MAX_TIMERS + 5 + TimerBook.KEEP_ENDED_S) == []


@given(st.lists(st.tuples(st.sampled_from(["put", "get"]), st.integers(0, 50),
                          st.floats(0, 200, allow_nan=False)), max_size=60))
def test_store_matches_a_model(ops):
    ids = iter(range(10**6))
    store = AudioStore(ttl_s=100, capacity=5, new_id=lambda: f"audio_{next(ids)}")
    model: dict[str, tuple[str, float]] = {}
    order: list[str] = []
    now = 0.0
    for kind, n, dt_s in ops:
        now += dt_s
        if kind == "put":
            e = store.put(f"t{n}", now)
            model[e.audio_id] = (f"t{n}", int(now) + 100)
            order.append(e.audio_id)
            live = [i for i in order if i in model]
            for old in live[:-5]:
                model.pop(old)
        else:
            key = order[n % len(order)] if order else "audio_x"
            want = model.get(key)
            got = store.get(key, now)
            if want is None or now >= want[1]:
                assert got is None
                model.pop(key, None)
            else:
                assert got is not None and got.transcript == want[0]
        assert len(store) <= 5


@pytest.mark.parametrize("codec,ext", [("png", "png"), ("mjpeg", "jpg"), ("gif", "gif"),
                                       ("bmp", "bmp"), ("libwebp", "webp")])
def test_sniff_real_images(tmp_path, codec, ext):
    w, h = 38, 22  # even: the yuv420 source cannot make odd sizes
    out = tmp_path / f"x.{ext}"
    r = subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"color=red:s={w}x{h}",
                        "-frames:v", "1", "-c:v", codec, "-y", str(out)], capture_output=True)
    if r.returncode != 0 and codec == "libwebp":
        pytest.skip("this ffmpeg has no WebP encoder")
    assert r.returncode == 0, r.stderr
    info = sniff_image(out.read_bytes())
    assert info is not None and (info.width, info.height) == (w, h)
    assert info.size_bytes == out.stat().st_size


@given(st.binary(max_size=64))
def test_sniff_never_crashes(data):
    sniff_image(data)
    sniff_image(b"\xff\xd8\xff" + data)
    sniff_image(b"RIFF\0\0\0\0WEBP" + data)


SCHEMAS = [
    {"type": "object", "properties": {"answer": {"type": "string"}, "n": {"type": "number"},
                                      "ok": {"type": "boolean"}, "tags": {"type": "array",
                                      "items": {"type": "string"}, "minItems": 2}},
     "required": ["answer", "n"], "additionalProperties": False},
    {"type": "object", "properties": {"when": {"type": "string", "format": "date-time"},
                                      "mood": {"enum": ["happy", "sad"]},
                                      "x": {"type": ["integer", "null"], "minimum": 5}}},
    {"type": "object", "properties": {"v": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
                                      "inner": {"type": "object", "properties": {
                                          "question": {"type": "string", "maxLength": 4}}}}},
    {"type": "string"},
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_fill_schema_validates(schema):
    value = fill_schema(schema, FillHints(text="It is 84.", heard="what is 12 times 7",
                                          number=84, now=NOW))
    jsonschema.validate(value, schema)


@pytest.mark.parametrize("schema,why", [
    ({"type": "object", "properties": {"a": {"$ref": "#/x"}}}, "$ref"),
    ({"type": "string", "format": "email"}, "email"),
    ({"type": "string", "pattern": "^[0-9]+$"}, "pattern"),
    ({"type": "integer", "multipleOf": 7}, "multiple"),
    ({"type": 5}, "valid JSON Schema"),
])
def test_unfillable_schemas_say_why(schema, why):
    with pytest.raises(InputError, match="^[^\n]*" + why.replace("$", r"\$")):
        fill_schema(schema, FillHints(text="hi", number=3))


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                           lambda c: st.lists(c, max_size=3) |
                           st.dictionaries(st.sampled_from(["messages", "role", "content",
                                                            "type", "text", "tools", "stream",
                                                            "audio", "modalities"]), c,
                                           max_size=4), max_leaves=12)


@settings(max_examples=300)
@given(json_values)
def test_parse_request_only_raises_request_error(value):
    try:
        parse_request(json.dumps(value).encode())
    except RequestError as exc:
        assert "\n" not in str(exc) and exc.status_code == 400


@given(st.binary(max_size=40))
def test_parse_request_bytes(data):
    with pytest.raises(RequestError):
        parse_request(b"\xff" + data)


def test_chunks_validate_and_carry_audio():
    v = validator_for_component("ChatCompletionChunk")
    w = ChunkWriter("chatcmpl-1", 1, "m")
    pcm = bytes(range(256)) * 3
    events = [w.role(), w.transcript("Hi."), w.audio(pcm, "audio_1"), w.content("x"),
              w.tool_calls((ToolCall("call_1", "f", "{}"),)), w.finish("stop"),
              w.expires(123), w.usage(Usage(1, 2, 3, 4))]
    for e in events:
        assert e.startswith(b"data: ") and e.endswith(b"\n\n") and e.count(b"\n") == 2
        v.validate(json.loads(e[6:]))
    audio = json.loads(events[2][6:])["choices"][0]["delta"]["audio"]
    assert audio["id"] == "audio_1" and base64.b64decode(audio["data"]) == pcm
    assert json.loads(events[-1][6:])["usage"]["total_tokens"] == 1 + 2 + 3 + 4
    doc = completion_response(completion_id="c", created_s=1, model="m", content=None,
                              audio={"id": "a", "data": "", "transcript": "t",
                                     "expires_at": 5},
                              tool_calls=(), finish_reason="stop", usage=Usage())
    validator_for_component("ChatCompletionResponse").validate(doc)


def test_assistant_skills_from_ground_truth():
    a = Assistant(new_call_id=lambda: "call_1")

    def ask(text: str) -> str:
        return a.respond([Turn("user", text)], now=NOW).text

    assert ask("What time is it?") == "It's 3:07 PM."
    assert ask("what's the date today") == "Today is Tuesday, 4 March 2025."
    assert ask("what is 123 times 45") == f"123 times 45 is {123 * 45}."
    assert ask("repeat after me the owl flies at night") == "the owl flies at night."
    assert "timer 1 is set for 2 minutes" in ask("set a timer for two minutes").lower()
    later = NOW + dt.timedelta(seconds=50)
    assert a.respond([Turn("user", "how long is left on my timer")], now=later).text == \
        "Timer 1 has 1 minute and 10 seconds left."
    assert ask("tell me a joke").startswith("I heard: tell me a joke.")
    assert "time" in ask("what can you do")


def test_skill_phrases_are_understood():
    a = Assistant()
    for phrase in SKILL_PHRASES:
        text = a.respond([Turn("user", phrase)], now=NOW).text
        if phrase != "what is the weather in paris":  # a tool, when the client offers one
            assert not text.startswith("I heard:"), phrase


@settings(max_examples=300)
@given(st.text(max_size=80) | st.lists(st.sampled_from(
    ["what", "is", "times", "plus", "timer", "for", "a", "half", "minutes", "and", "twelve",
     "hundred", "point", "five", "say", "repeat", "time", "date", "^", "-", "0", "99", "sqrt",
     "square", "root", "of", "divided", "by", "cancel", "set", "left"]), max_size=12).map(" ".join))
def test_assistant_answers_anything(text):
    reply = Assistant().respond([Turn("user", text)], now=NOW)
    assert reply.text.strip()


schema_like = st.recursive(
    st.sampled_from([{"type": t} for t in ("string", "integer", "number", "boolean", "null",
                                           "array", "object")]) | st.just({}),
    lambda c: st.dictionaries(st.sampled_from(["type", "properties", "items", "anyOf", "enum",
                                               "required", "minimum", "maxLength", "minItems",
                                               "format", "const"]),
                              c | st.lists(c, max_size=2) | st.integers(-3, 3)
                              | st.text(max_size=3), max_size=3), max_leaves=8)


@settings(max_examples=300)
@given(schema_like)
def test_fill_schema_fills_or_says_why(schema):
    try:
        value = fill_schema(schema, FillHints(text="hello", heard="hi", number=2.5, now=NOW))
    except InputError as exc:
        assert "\n" not in str(exc)
    else:
        jsonschema.validate(value, schema)


def test_tool_matching_fills_from_the_utterance():
    from voicebot.server.model import ToolSpec
    weather = ToolSpec("get_weather", "Get the weather in a given location", {
        "type": "object", "properties": {"location": {"type": "string"},
                                         "unit": {"enum": ["celsius", "fahrenheit"]}},
        "required": ["location"]})
    timer = ToolSpec("startTimer", "", {"type": "object", "properties": {
        "duration_seconds": {"type": "integer"}}, "required": ["duration_seconds"]})
    a = Assistant(new_call_id=lambda: "call_1")

    def call(text: str, **kw) -> ToolCall | None:
        r = a.respond([Turn("user", text)], now=NOW, tools=[weather, timer], **kw)
        return r.tool_calls[0] if r.tool_calls else None

    c = call("what's the weather in New York in fahrenheit")
    assert (c.name, json.loads(c.arguments)) == ("get_weather", {"location": "New York",
                                                                 "unit": "fahrenheit"})
    c = call("start a timer for one minute and ten seconds")
    assert (c.name, json.loads(c.arguments)) == ("startTimer", {"duration_seconds": 70})
    assert call("what's the weather?") is None  # no place named: no invented argument
    assert call("what time is it") is None
    assert call("what time is it", tool_choice="required").name == "get_weather"
    assert call("weather in Rome", tool_choice="none") is None
    # An announcement to echo (the kiosk's timer) calls no tool and is said as it is.
    said = "Repeat after me: Your timer for 4 seconds is done."
    assert call(said) is None
    reply = a.respond([Turn("user", said)], now=NOW, tools=[weather, timer])
    assert " ".join(seg.text for seg in reply.segments) == "Your timer for 4 seconds is done."


@pytest.mark.parametrize("name, result, spoken", [
    ("get_current_time", "Wednesday 25 November 2026, 17:20 (UTC)",
     "It is Wednesday 25 November 2026, 17:20 (UTC)."),
    ("calculate", "84", "That is 84."),
    ("get_weather", '{"temperature": 21, "sky": "clear"}',
     "The get weather tool says: temperature 21, sky clear"),
    ("calculate", "error: calculate failed: ZeroDivisionError: division by zero",
     "The calculate tool failed: calculate failed: ZeroDivisionError: division by zero"),
    ("getCurrentTime", "17:20", "It is 17:20."),
    # The kiosk's timer tools (voicebot.session.builtin_tools): "set_timer" is no clock
    # (it was said "It is timer 1 set for 8 seconds.").
    ("set_timer", "timer 1 set for 8 seconds", "Timer 1 set for 8 seconds."),
    ("cancel_timer", "cancelled", "Cancelled."),
    ("list_timers", '[{"id": 1, "label": "", "remaining_s": 61.2}, '
     '{"id": 2, "label": "the tea", "remaining_s": 0.3}]',
     "Timer 1 has 1 minute and 1 second left. Timer 2 for the tea has 1 second left."),
    ("list_timers", "[]", "You have no timers."),
])
def test_tool_results_are_spoken_as_answers(name, result, spoken):
    a = Assistant()
    turns = [Turn("user", "ask the tool"), Turn("assistant", tool_calls=(ToolCall("call_1", name, "{}"),)),
             Turn("tool", result, tool_call_id="call_1", tool_name=name)]
    assert a.respond(turns, now=NOW).text == spoken
