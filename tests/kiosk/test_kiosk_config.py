"""Every kiosk setting can live in the config file (flat or in a [kiosk] table), so
the service needs no flags; flags still win."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicebot.config import ECHO_BARGE_IN_MS, Settings, resolve
from voicebot.errors import ConfigError
from voicebot.kiosk.run import wake_word_config, wake_word_name


def test_kiosk_table_and_flat_keys(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text('voice = "echo"\n[kiosk]\nwake-word = "okay_nabu"\nfollow_up_ms = 8000\n'
                    'push_to_talk = "space"\nmuted = true\nearcons = false\n'
                    'earcon_volume = 0.5\n')
    s = resolve({}, config_path=str(path), env={})
    assert (s.voice, s.wake_word, s.follow_up_ms, s.push_to_talk, s.muted, s.earcons,
            s.earcon_volume) == ("echo", "okay_nabu", 8000, "space", True, False, 0.5)
    policy = s.turn_policy(barge_in=False, wake_word=True, earcons=True)
    assert policy.wake_word and policy.follow_up_ms == 8000 and policy.earcons
    flags = resolve({"wake_word": "none"}, config_path=str(path), env={})
    assert wake_word_name(flags) is None and wake_word_name(s) == "okay_nabu"


def test_wake_word_detector_settings_from_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text("[kiosk]\nwake_threshold = 0.6\nwake_onset_window_ms = 1800\n"
                    'wake_second_engine = "microwakeword"\nwake_second_threshold = 0.8\n'
                    "wake_second_look = 1.2\nwake_end_window_ms = 0\n")
    config = wake_word_config(resolve({}, config_path=str(path), env={}), "hey_jarvis")
    assert (config.model, config.engine, config.threshold, config.onset_window_ms,
            config.second_engine, config.second_threshold, config.second_look) == (
        "hey_jarvis", "openwakeword", 0.6, 1800, "microwakeword", 0.8, 1.2)
    assert config.end_window_ms == 0
    plain = wake_word_config(Settings(), "okay_nabu")  # 0 and "": the models' own, off
    assert (plain.threshold, plain.onset_window_ms, plain.second_engine,
            plain.second_threshold, plain.second_look) == (None, None, None, None, None)
    assert plain.end_window_ms == 320
    with pytest.raises(ConfigError, match="engine"):
        wake_word_config(Settings(wake_engine="porcupine"), "hey_jarvis")


@pytest.mark.parametrize("text, message", [
    ("[kiosk]\nwake_word = 3\n", "wrong type"),
    ("[kiosk]\nbogus = 1\n", "unknown setting 'bogus'"),
    ("earcon_volume = 2.0\n", "earcon_volume"),
    ("follow_up_ms = -1\n", "follow_up_ms"),
    ("[kiosk]\nwake_threshold = 1.5\n", "wake_threshold"),
    ("[kiosk]\nwake_onset_window_ms = -1\n", "wake_onset_window_ms"),
    ("[kiosk]\nwake_end_window_ms = -1\n", "wake_end_window_ms"),
    ("[kiosk]\nwake_second_look = 0.5\n", "wake_second_look"),
])
def test_bad_kiosk_settings(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        resolve({}, config_path=str(path), env={})


@pytest.mark.parametrize("echo, barge_in, wake, ptt, muted, speech_barge_in", [
    # Echo cancellation: listening while the reply plays; only the gate stops it.
    (True, None, True, False, False, False),
    (True, None, False, True, False, False),
    (True, None, False, False, False, True),  # no gate: speech stops it, as in chat
    # No echo cancellation: half-duplex, as before.
    (False, None, True, False, True, False),
    (False, None, False, False, True, False),
    # barge_in = false: half-duplex even with echo cancellation (nothing said stops it).
    (True, False, True, False, True, False),
    # barge_in = true without echo cancellation: headphones.
    (False, True, True, False, False, False),
    (False, True, False, False, False, True),
])
def test_kiosk_policy_listens_over_the_reply_with_echo_cancellation(
        echo: bool, barge_in: bool | None, wake: bool, ptt: bool, muted: bool,
        speech_barge_in: bool) -> None:
    s = Settings(barge_in=barge_in)
    policy = s.kiosk_policy(echo_cancelled=echo, wake_word=wake, push_to_talk=ptt)
    assert policy.mute_while_replying is muted
    assert policy.barge_in is speech_barge_in
    assert (policy.wake_word, policy.push_to_talk, policy.earcons) == (wake, ptt, True)
    if speech_barge_in:
        assert policy.barge_in_ms == (ECHO_BARGE_IN_MS if echo else s.turn_policy().barge_in_ms)
