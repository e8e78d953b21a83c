from __future__ import annotations

import pytest

from voicebot.config import Settings, default_config_path, resolve
from voicebot.errors import ConfigError, Redactor


def test_precedence_defaults_file_env_flags(tmp_path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('voice = "echo"\nmodel = "file-model"\ntimeout = 5\n')
    env = {"VOICEBOT_MODEL": "env-model", "HOME": str(tmp_path)}
    s = resolve({"voice": None, "model": None}, config_path=str(cfg), env=env)
    assert (s.voice, s.model, s.stall_timeout_s) == ("echo", "env-model", 5)
    s = resolve({"model": "flag-model"}, config_path=str(cfg), env=env)
    assert s.model == "flag-model"


def test_api_key_from_env_fallback_and_never_in_repr(tmp_path) -> None:
    env = {"OPENAI_API_KEY": "zz-secret-key-123", "HOME": str(tmp_path)}
    s = resolve({}, env=env)
    assert s.api_key == "zz-secret-key-123"
    assert "zz-secret" not in repr(s)
    # A key of no known shape is masked by the redactor that was told it, and by no
    # other: nothing is shared between conversations (or tests).
    assert "zz-secret" not in Redactor(s.api_key)("failed with key zz-secret-key-123")
    assert "zz-secret" in Redactor()("failed with key zz-secret-key-123")
    env["VOICEBOT_API_KEY"] = "vb-key-4567"
    assert resolve({}, env=env).api_key == "vb-key-4567"


def test_bad_config_is_one_clear_error(tmp_path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("voice = [1, 2")
    with pytest.raises(ConfigError, match="not valid TOML"):
        resolve({}, config_path=str(cfg), env={"HOME": str(tmp_path)})
    cfg.write_text("colour = 'red'\n")
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        resolve({}, config_path=str(cfg), env={"HOME": str(tmp_path)})
    with pytest.raises(ConfigError, match="does not exist"):
        resolve({}, config_path=str(tmp_path / "none.toml"), env={"HOME": str(tmp_path)})
    with pytest.raises(ConfigError, match="http"):
        resolve({"base_url": "localhost:8000"}, env={"HOME": str(tmp_path)})


def test_default_config_path_per_platform() -> None:
    assert str(default_config_path("linux", {"HOME": "/h"})) == "/h/.config/voicebot/config.toml"
    assert str(default_config_path("linux", {"HOME": "/h", "XDG_CONFIG_HOME": "/x"})) == "/x/voicebot/config.toml"
    assert "Library/Application Support/voicebot" in str(default_config_path("darwin", {"HOME": "/h"}))
    assert str(default_config_path("win32", {"HOME": "/h", "APPDATA": "/a"})).endswith("voicebot/config.toml")


def test_default_settings_use_embedded_server() -> None:
    assert Settings().base_url is None


def test_echo_cancellation_turns_barge_in_on_by_default_and_flags_override() -> None:
    from voicebot.config import ECHO_BARGE_IN_MS
    from voicebot.turntaking.policy import Policy

    plain = Settings()
    on = plain.turn_policy(echo_cancelled=True)
    off = plain.turn_policy(echo_cancelled=False)
    assert on.barge_in and on.barge_in_ms == ECHO_BARGE_IN_MS
    assert not off.barge_in and off.barge_in_ms == Policy().barge_in_ms
    assert not Settings(barge_in=False).turn_policy(echo_cancelled=True).barge_in
    assert Settings(barge_in=True).turn_policy(echo_cancelled=False).barge_in
    assert Settings(barge_in_ms=300).turn_policy(echo_cancelled=True).barge_in_ms == 300
    assert not plain.turn_policy(barge_in=False, echo_cancelled=True).barge_in  # the driver's say


def test_chat_barge_in_and_aec_flags() -> None:
    from voicebot.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["chat"]).barge_in is None
    assert parser.parse_args(["chat", "--no-barge-in"]).barge_in is False
    assert parser.parse_args(["chat", "--barge-in", "--aec", "off"]).aec == "off"


@pytest.mark.parametrize("kw, on", [
    ({}, True),  # no URL, no key: the embedded server
    ({"base_url": "http://127.0.0.1:9/v1"}, False),  # a remote API: extra requests cost
    ({"base_url": "http://127.0.0.1:9/v1", "preemptive": "on"}, True),
    ({"preemptive": "off"}, False),
])
def test_preemptive_turns_by_backend(kw: dict, on: bool) -> None:
    s = Settings(**kw)
    assert s.preemptive_on() is on
    assert s.turn_policy(barge_in=False).preemptive is on
    assert s.segmenter_config().pause_ms == (s.preemptive_ms if on else 0)


@pytest.mark.parametrize("flags", [{"preemptive": "maybe"}, {"preemptive_ms": 0},
                                   {"capture_block_ms": 5}, {"speech_workers": -1},
                                   {"speech_workers": 17}])
def test_bad_preemptive_or_block_settings(flags: dict, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError):
        resolve(flags, env={"HOME": str(tmp_path)})


def test_echo_cancellation_starts_speech_sooner() -> None:
    from voicebot.config import ECHO_START_FRAMES

    plain = Settings().segmenter_config()
    echo = Settings().segmenter_config(echo_cancelled=True)
    assert (echo.start_voiced_frames, echo.start_window_frames) == ECHO_START_FRAMES
    assert echo.start_window_frames < plain.start_window_frames
    # The backchannel limit follows the start trigger it is measured against.
    on, off = (Settings().turn_policy(barge_in=True, echo_cancelled=e) for e in (True, False))
    assert off.backchannel_ms - on.backchannel_ms == (
        (plain.start_window_frames - echo.start_window_frames) * plain.frame_ms
        + off.barge_in_ms - on.barge_in_ms)


@pytest.mark.parametrize("kw, buffer_ms", [
    ({}, 150),  # the embedded server decodes speech in worker processes
    ({"speech_workers": 0}, 500),  # ... or in this one, holding the GIL for the decode
    ({"base_url": "http://127.0.0.1:9/v1"}, 150),
    ({"base_url": "http://127.0.0.1:9/v1", "speech_workers": 0}, 150),  # decodes nothing here
    ({"base_url": "http://127.0.0.1:9/v1", "speech_workers": 0, "local": True}, 500),
])
def test_chat_capture_buffer_by_where_speech_is_decoded(kw: dict, buffer_ms: int) -> None:
    from voicebot.localaudio import capture_buffer_ms
    assert capture_buffer_ms(Settings(**kw)) == buffer_ms
