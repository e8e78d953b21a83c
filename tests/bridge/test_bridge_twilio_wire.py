"""Twilio's wire format (pure): messages fed whole and malformed, TwiML, webhook
signatures and per-call tokens."""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voicebot.bridge.twilio_wire import (
    Connected,
    Dtmf,
    Mark,
    Media,
    Start,
    Stop,
    call_token,
    call_token_ok,
    clear_message,
    mark_message,
    media_message,
    parse_twilio,
    signature,
    signature_ok,
    twiml,
)
from voicebot.bridge.wire import WireError

START = {"event": "start", "sequenceNumber": "1", "streamSid": "MZ1",
         "start": {"streamSid": "MZ1", "callSid": "CA1", "accountSid": "AC1",
                   "tracks": ["inbound"], "customParameters": {"token": "t"},
                   "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                   "channels": 1}}}

MESSAGES = [
    ({"event": "connected", "protocol": "Call", "version": "1.0.0"}, Connected()),
    (START, Start("MZ1", "CA1", {"token": "t"})),
    ({"event": "media", "streamSid": "MZ1", "media": {"track": "inbound", "chunk": "2",
      "timestamp": "40", "payload": base64.b64encode(b"\xff" * 160).decode()}},
     Media(b"\xff" * 160)),
    ({"event": "dtmf", "streamSid": "MZ1", "dtmf": {"track": "inbound_track", "digit": "5"}},
     Dtmf("5")),
    ({"event": "mark", "streamSid": "MZ1", "mark": {"name": "voicebot:4800"}},
     Mark("voicebot:4800")),
    ({"event": "stop", "streamSid": "MZ1", "stop": {"callSid": "CA1"}}, Stop()),
]


@pytest.mark.parametrize("message,expected", MESSAGES)
def test_twilio_messages_parse(message: dict[str, object], expected: object) -> None:
    assert parse_twilio(json.dumps(message)) == expected


BAD = [
    ("nope", "not JSON"),
    ("[]", "not a JSON object"),
    ('{"event": "teleport"}', 'unknown event "teleport"'),
    ('{"event": "media", "media": {"payload": "***"}}', "not base64"),
    ('{"event": "media", "media": {"payload": "' + "A" * 4000 + '"}}', "at most 1600 bytes"),
    ('{"event": "media"}', "media must be an object"),
    ('{"event": "mark", "mark": {}}', "name must be a non-empty string"),
    (json.dumps({**START, "start": {**START["start"],  # type: ignore[dict-item]
                                    "mediaFormat": {"encoding": "audio/x-l16",
                                                    "sampleRate": 16000, "channels": 1}}}),
     "is not µ-law 8000 Hz mono"),
]


@pytest.mark.parametrize("text,message", BAD)
def test_malformed_twilio_messages_say_why(text: str, message: str) -> None:
    with pytest.raises(WireError) as refused:
        parse_twilio(text)
    assert message in str(refused.value)


@given(st.text())
def test_any_text_is_a_message_or_a_wire_error(text: str) -> None:
    try:
        parse_twilio(text)
    except WireError:
        pass


def test_outgoing_messages_are_what_twilio_documents() -> None:
    media = json.loads(media_message("MZ1", b"\x7f\x00"))
    assert media == {"event": "media", "streamSid": "MZ1", "media": {"payload": "fwA="}}
    assert json.loads(mark_message("MZ1", "m")) == {"event": "mark", "streamSid": "MZ1",
                                                    "mark": {"name": "m"}}
    assert json.loads(clear_message("MZ1")) == {"event": "clear", "streamSid": "MZ1"}


def test_twiml_connects_the_stream_with_the_token_escaped() -> None:
    root = ET.fromstring(twiml("wss://example.org/twilio", 'a"<&>b'))
    stream = root.find("./Connect/Stream")
    assert stream is not None and stream.get("url") == "wss://example.org/twilio"
    [param] = stream.findall("Parameter")
    assert (param.get("name"), param.get("value")) == ("token", 'a"<&>b')


def test_signatures_cover_the_url_and_every_field() -> None:
    params = {"CallSid": "CA1", "From": "+1555", "To": "+1666", "Digits": ""}
    url = "https://example.org/twilio/voice"
    good = signature("auth", url, params)
    assert signature_ok("auth", url, dict(reversed(list(params.items()))), good)
    assert not signature_ok("auth", url + "?x=1", params, good)
    assert not signature_ok("auth", url, {**params, "From": "+1777"}, good)
    assert not signature_ok("other", url, params, good)
    assert not signature_ok("auth", url, params, None)


def test_call_tokens_are_per_call_and_expire() -> None:
    key = b"k" * 32
    token = call_token(key, "CA1", expires_at=1000)
    assert call_token_ok(key, token, "CA1", now=999)
    assert not call_token_ok(key, token, "CA2", now=999)
    assert not call_token_ok(key, token, "CA1", now=1001)
    assert not call_token_ok(b"j" * 32, token, "CA1", now=999)
    for bad in (None, "", "x", "1000.", "9999." + token.split(".")[1][:-1] + "0"):
        assert not call_token_ok(key, bad, "CA1", now=999)
