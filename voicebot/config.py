"""Settings: defaults < config file (TOML) < environment < command-line flags.

Pure apart from :func:`load_config_file`, which reads one file. The API key is not
in the settings' repr; the command masks it in everything it prints
(:class:`voicebot.errors.Redactor`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .capture.segmenter import SegmenterConfig
from .errors import ConfigError
from .turntaking.policy import Policy

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_VAD = SegmenterConfig()
_POLICY = Policy()

#: Barge-in's speech beyond the start trigger with echo cancellation (ms). The
#: goal (issue 8) is a speaker silent within 300 ms of the user's first word, and
#: the start trigger alone is 240 ms of speech: the interruption comes with the
#: start. Without a canceller (headphones) the policy's 500 ms stays as it was.
ECHO_BARGE_IN_MS = 0
#: With echo cancellation, speech starts after this many voiced VAD frames of the
#: last so many (30 ms each), instead of the segmenter's 8 of 10: 120 ms of speech
#: rather than 240 ms before a barge-in. Safe since the canceller's guard
#: (``capture/aec_guard.py``) keeps residual echo from reaching the VAD; see the
#: README's echo-cancellation section for the rig runs.
ECHO_START_FRAMES = (4, 5)

#: The official SDKs' default base URL, used when only an API key is configured.
OPENAI_BASE_URL = "https://api.openai.com/v1"

DEFAULT_SYSTEM_PROMPT = (
    "You are voicebot, a helpful voice assistant. Answer briefly, in plain spoken sentences."
)


@dataclass(frozen=True)
class Settings:
    """Everything a run needs. Which server: :meth:`backend_url`."""

    base_url: str | None = None
    #: Use the embedded local server even when a base URL or an API key is configured.
    local: bool = False
    api_key: str | None = field(default=None, repr=False)
    model: str = "gpt-4o-audio-preview"
    voice: str = "alloy"
    ssml: bool = False
    system: str = DEFAULT_SYSTEM_PROMPT
    stall_timeout_s: float = 30.0
    connect_timeout_s: float = 10.0
    max_retries: int = 2
    input_device: str | None = None
    output_device: str | None = None
    prebuffer_ms: int = 120
    #: "adaptive" (learns the stream's lateness; prebuffer_ms bounds its start wait)
    #: or "fixed" (always waits prebuffer_ms). See playback/jitterpolicy.py.
    jitter: str = "adaptive"
    # Voice activity detection and turn-taking: the segmenter's own defaults (its
    # docstrings say what each means and where the numbers come from).
    vad_aggressiveness: int = _VAD.aggressiveness
    #: The VAD: "webrtc" (webrtcvad, ``vad_aggressiveness``), "silero" or "micro"
    #: (model VADs from the ``kiosk`` extra; see capture/vadmodels.py).
    vad: str = "webrtc"
    #: WebRTC noise suppression (0 off .. 4) and automatic gain (target dBFS, 0 off
    #: .. 31) before the VAD and the wake word (capture/noisegain.py; ``kiosk`` extra).
    noise_suppression: int = 0
    auto_gain_dbfs: int = 0
    #: End of turn: "adaptive" (hang-over min..max by the room's noise) or "fixed"
    #: (``hangover_ms``).
    endpoint: str = _VAD.endpoint
    hangover_ms: int = _VAD.hangover_ms
    min_hangover_ms: int = _VAD.min_hangover_ms
    max_hangover_ms: int = _VAD.max_hangover_ms
    preroll_ms: int = _VAD.preroll_ms
    min_utterance_ms: int = _VAD.min_utterance_ms
    max_utterance_ms: int = _VAD.max_utterance_ms
    # Barge-in (chat): None (the default) turns it on when echo cancellation runs and
    # off otherwise, since without headphones or echo cancellation the microphone hears
    # the reply and it would interrupt itself. See turntaking/policy.py.
    barge_in: bool | None = None
    #: Speech beyond the start trigger before it interrupts the reply; None: the
    #: policy's 500 ms, or with echo cancellation ECHO_BARGE_IN_MS (see there).
    barge_in_ms: int | None = None
    barge_in_grace_ms: int = _POLICY.barge_in_grace_ms
    # Acoustic echo cancellation (voicebot.capture.aec): "auto" runs it when
    # libspeexdsp is available and a speaker plays the replies; "on" requires it;
    # "off" never runs it.
    aec: str = "auto"
    #: When the microphone or the speaker goes away during a conversation (unplugged,
    #: busy, the sound server restarted): say so and wait for it to come back
    #: (retrying at 0.5 s doubling to 10 s), instead of ending. ``voicebot.recovery``.
    reconnect: bool = True
    #: Preemptive turns (turntaking/policy.py): once the user's speech has paused for
    #: ``preemptive_ms`` the utterance so far is sent, its answer held back until the
    #: turn is confirmed (and dropped if speech resumes: an extra request). "auto": on
    #: with the embedded server, off with a remote API (each dropped request there
    #: costs tokens); "on"; "off".
    preemptive: str = "auto"
    preemptive_ms: int = 240
    #: The microphone's read size (capture/mic.py): shorter blocks tell the end of a
    #: turn sooner (~half a block on average) and cost more wake-ups while idle.
    capture_block_ms: int = 60
    #: The embedded server's speech recognition (voicebot/speech/worker.py): up to this
    #: many utterances decode at once, each in a worker process of its own (~135 MB
    #: RSS each, started when needed), so a decode never stalls the event loop or the
    #: capture thread; 0 decodes in this process (pocketsphinx then holds the GIL
    #: for 140-310 ms per question).
    speech_workers: int = 2
    # The kiosk (``voicebot kiosk``, voicebot/kiosk/): every setting can live in the
    # config file, so its service needs no flags.
    #: Wake word: a built-in model's name ("hey_jarvis", "okay_nabu", …) or a .tflite
    #: path; "" or "none": no wake word (every utterance counts, as in chat).
    wake_word: str = "hey_jarvis"
    #: The engine that runs it: "openwakeword" (pyopen-wakeword) or "microwakeword"
    #: (pymicro-wakeword: a custom model is then the .json beside its .tflite).
    wake_engine: str = "openwakeword"
    #: The score that fires it; 0: the model's own (openWakeWord 0.5).
    wake_threshold: float = 0.0
    #: A wake word counts only this soon after the start of a run of speech (after
    #: 0.5 s of quiet): 0 = off. 1800 removed the benchmark's one false accept and
    #: cuts the model's CPU with talk in the room (7.7 -> 4.4 % of a core), but where
    #: speech never pauses (a TV) the kiosk then never wakes.
    wake_onset_window_ms: int = 0
    #: The question is cut where the wake word ended, placed from the model's peak score
    #: within this long after it fired (hey_jarvis, alexa; README "End of the wake
    #: word"); 0: from the moment it fired. The wake earcon never waits for it.
    wake_end_window_ms: int = 320
    #: A second engine listening for the same word ("microwakeword"; "": none), firing
    #: at ``wake_second_threshold`` (0: its own); either engine wakes the kiosk.
    wake_second_engine: str = ""
    wake_second_threshold: float = 0.0
    #: A second, slowed-down look at a wake word the model nearly heard: 0 = off, or the
    #: factor to slow the audio by (1.3 measured best; openWakeWord only). With
    #: ``wake_onset_window_ms = 1800`` it found 84 % of the benchmark's takes, not 72 %;
    #: without the onset window it woke on unrelated speech. README: "Second look".
    wake_second_look: float = 0.0
    #: A verifier learnt from the household's voices (``voicebot kiosk --enroll``;
    #: kiosk/verifier.py): "auto" uses the one enrolment saved for the wake word if
    #: there is one; a path; "" or "none": none. README: "Wake-word enrolment".
    wake_word_verifier: str = "auto"
    #: After a reply, answer without the wake word for this long.
    follow_up_ms: int = _POLICY.follow_up_ms
    #: After a wake word said alone ("hey jarvis." then the question), the question
    #: may begin this long after it.
    command_wait_ms: int = _POLICY.command_wait_ms
    #: A terminal key (one character, or "space"/"enter"/"tab") that is the talk
    #: button: press to talk, again to stop. "": none. With it, only utterances made
    #: while the button is on count (push-to-talk instead of the wake word).
    push_to_talk: str = ""
    #: The terminal key that mutes and unmutes listening ("": none).
    mute_key: str = "m"
    #: Start muted (the key or the screen unmutes).
    muted: bool = False
    #: Short sounds on wake word, thinking, done, error, timer.
    earcons: bool = True
    #: Earcon loudness, 0..1 times their own level (−10 dBFS peak).
    earcon_volume: float = 1.0
    verbose: bool = False

    def segmenter_config(self, *, echo_cancelled: bool = False) -> SegmenterConfig:
        """The capture segmenter's configuration from these settings (its own
        defaults for everything the settings do not name). ``echo_cancelled``: the
        quicker start of :data:`ECHO_START_FRAMES` (barge-in through speakers)."""
        voiced, window = (ECHO_START_FRAMES if echo_cancelled else
                          (_VAD.start_voiced_frames, _VAD.start_window_frames))
        return SegmenterConfig(
            start_voiced_frames=voiced, start_window_frames=window,
            aggressiveness=self.vad_aggressiveness, preroll_ms=self.preroll_ms,
            endpoint="fixed" if self.endpoint == "fixed" else "adaptive",
            hangover_ms=self.hangover_ms, min_hangover_ms=self.min_hangover_ms,
            max_hangover_ms=self.max_hangover_ms, min_utterance_ms=self.min_utterance_ms,
            max_utterance_ms=self.max_utterance_ms,
            pause_ms=self.preemptive_ms if self.preemptive_on() else 0)

    def preemptive_on(self) -> bool:
        """Whether conversations send preemptive requests (see ``preemptive``)."""
        if self.preemptive == "auto":
            return self.backend_url() is None
        return self.preemptive == "on"

    def barge_in_for(self, *, echo_cancelled: bool) -> bool:
        """Whether a conversation barges in: as configured, else with echo cancellation."""
        return echo_cancelled if self.barge_in is None else self.barge_in

    def turn_policy(self, *, barge_in: bool | None = None, echo_cancelled: bool = False,
                    mute_while_replying: bool = False, pace_transcript: bool = True,
                    max_turns: int | None = None, wake_word: bool = False,
                    push_to_talk: bool = False, earcons: bool = False) -> Policy:
        """The turn-taking policy of a conversation driven with these settings.

        ``barge_in``: forced on or off by the driver (None: :meth:`barge_in_for`).
        ``echo_cancelled``: the microphone's audio goes through echo cancellation,
        so the assistant cannot hear itself: barge-in defaults on, with
        :data:`ECHO_BARGE_IN_MS`. ``wake_word``, ``push_to_talk``, ``earcons``: the
        kiosk's gates and sounds.
        """
        if barge_in is None:
            barge_in = self.barge_in_for(echo_cancelled=echo_cancelled)
        barge_in_ms = self.barge_in_ms
        if barge_in_ms is None:
            barge_in_ms = ECHO_BARGE_IN_MS if echo_cancelled else _POLICY.barge_in_ms
        vad = self.segmenter_config(echo_cancelled=echo_cancelled)
        start_trigger_ms = vad.start_window_frames * vad.frame_ms  # speech before it counts
        return Policy(
            mute_while_replying=mute_while_replying, barge_in=barge_in,
            barge_in_ms=barge_in_ms, barge_in_grace_ms=self.barge_in_grace_ms,
            # Speech over the reply too short to interrupt it is a backchannel
            # ("mm-hmm"): an utterance (pre-roll and tail included) of at most the
            # start trigger plus barge_in_ms of speech.
            backchannel_ms=(barge_in_ms + start_trigger_ms + vad.preroll_ms + vad.tail_ms
                            if barge_in else 0),
            pace_transcript=pace_transcript, strip_ssml=self.ssml, max_turns=max_turns,
            vad_tail_ms=vad.tail_ms, preemptive=vad.pause_ms > 0, wake_word=wake_word,
            follow_up_ms=self.follow_up_ms, command_wait_ms=self.command_wait_ms,
            push_to_talk=push_to_talk, earcons=earcons)

    def kiosk_policy(self, *, echo_cancelled: bool, wake_word: bool,
                     push_to_talk: bool) -> Policy:
        """The kiosk's turn-taking policy (``voicebot kiosk``).

        Its microphone hears its speaker. It keeps listening while a reply plays when
        :meth:`barge_in_for` says so (by default: with echo cancellation); then the
        wake word (or the talk button) stops the reply, and with neither gate speech
        over the reply does, as in chat. Otherwise capture is muted while a reply
        plays (half-duplex: ``mute_while_replying``), and nothing said stops it.
        """
        listening = self.barge_in_for(echo_cancelled=echo_cancelled)
        return self.turn_policy(
            barge_in=listening and not wake_word and not push_to_talk,
            echo_cancelled=echo_cancelled, mute_while_replying=not listening,
            wake_word=wake_word, push_to_talk=push_to_talk, earcons=self.earcons)

    def backend_url(self) -> str | None:
        """The API base URL to use; None: the embedded local server.

        A base URL wins; else an API key means OpenAI (what the official SDKs do with
        a key and no base URL); else, and always with ``local``, the embedded server.
        """
        if self.local:
            return None
        if self.base_url:
            return self.base_url
        return OPENAI_BASE_URL if self.api_key else None


def default_config_path(platform: str = sys.platform,
                        env: Mapping[str, str] = os.environ) -> Path:
    """Where ``config.toml`` lives when ``--config`` is not given, per platform."""
    home = Path(env.get("HOME") or Path.home())
    if platform.startswith("win"):
        base = Path(env.get("APPDATA") or home / "AppData" / "Roaming")
    elif platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    return base / "voicebot" / "config.toml"


_FIELDS = {f.name: f for f in fields(Settings)}
# Config-file keys may use dashes as on the command line.
_ALIASES = {"timeout": "stall_timeout_s", "system_prompt": "system"}
# Tables whose keys are settings like the top level's (for readability only).
_TABLES = ("kiosk",)


def load_config_file(path: Path | None, *, required: bool) -> dict[str, Any]:
    """Read a TOML config file into settings keys. Missing and not required → {}."""
    if path is None:
        return {}
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        if required:
            raise ConfigError(f"config file {path} does not exist") from None
        return {}
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: not valid TOML ({exc})") from None
    return _check_keys(raw, f"config file {path}")


def _check_keys(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _TABLES and isinstance(value, Mapping):
            # A [kiosk] table groups the kiosk's keys; the same keys work at the top too.
            out.update(_check_keys(value, f"{where} [{key}]"))
            continue
        name = _ALIASES.get(key, key.replace("-", "_"))
        if name not in _FIELDS:
            raise ConfigError(f"{where}: unknown setting {key!r}")
        want = _FIELDS[name].type
        ok = (
            ("bool" in str(want) and isinstance(value, bool))
            or ("int" in str(want) and isinstance(value, int) and not isinstance(value, bool))
            or ("float" in str(want) and isinstance(value, (int, float)) and not isinstance(value, bool))
            or ("str" in str(want) and isinstance(value, str))
        )
        if not ok:
            raise ConfigError(f"{where}: {key} has the wrong type ({type(value).__name__})")
        out[name] = value
    return out


def settings_from_env(env: Mapping[str, str] = os.environ) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if env.get("VOICEBOT_BASE_URL"):
        out["base_url"] = env["VOICEBOT_BASE_URL"]
    key = env.get("VOICEBOT_API_KEY") or env.get("OPENAI_API_KEY")
    if key:
        out["api_key"] = key
    for name, var in (("model", "VOICEBOT_MODEL"), ("voice", "VOICEBOT_VOICE")):
        if env.get(var):
            out[name] = env[var]
    return out


def resolve(flags: Mapping[str, Any], *, config_path: str | None = None,
            env: Mapping[str, str] = os.environ) -> Settings:
    """Merge defaults, config file, environment and flags (``None`` flags are unset)."""
    path = Path(config_path) if config_path else default_config_path(env=env)
    merged: dict[str, Any] = {}
    merged.update(load_config_file(path, required=config_path is not None))
    merged.update(settings_from_env(env))
    merged.update({k: v for k, v in flags.items() if v is not None})
    settings = replace(Settings(), **merged)
    _validate(settings)
    return settings


def _validate(s: Settings) -> None:
    if s.base_url is not None and not s.base_url.startswith(("http://", "https://")):
        raise ConfigError(f"base URL must start with http:// or https:// (got {s.base_url!r})")
    if s.stall_timeout_s <= 0 or s.connect_timeout_s <= 0:
        raise ConfigError("timeouts must be positive numbers of seconds")
    if not 0 <= s.vad_aggressiveness <= 3:
        raise ConfigError("vad_aggressiveness must be 0, 1, 2 or 3")
    if s.vad not in ("webrtc", "silero", "micro"):
        raise ConfigError(f"vad must be webrtc, silero or micro (got {s.vad!r})")
    if not 0 <= s.noise_suppression <= 4 or not 0 <= s.auto_gain_dbfs <= 31:
        raise ConfigError("noise_suppression must be 0-4 and auto_gain_dbfs 0-31")
    if s.jitter not in ("adaptive", "fixed"):
        raise ConfigError(f"jitter must be 'adaptive' or 'fixed', not {s.jitter!r}")
    if s.prebuffer_ms < 0 or s.hangover_ms <= 0:
        raise ConfigError("prebuffer_ms must be >= 0 and hangover_ms > 0")
    if s.endpoint not in ("fixed", "adaptive"):
        raise ConfigError(f"endpoint must be \"fixed\" or \"adaptive\" (got {s.endpoint!r})")
    if not 0 < s.min_hangover_ms <= s.max_hangover_ms:
        raise ConfigError("hang-overs must satisfy 0 < min_hangover_ms <= max_hangover_ms")
    s.segmenter_config()  # the segmenter's own checks (e.g. tail within the hang-over)
    if (s.barge_in_ms is not None and s.barge_in_ms < 0) or s.barge_in_grace_ms < 0:
        raise ConfigError("barge_in_ms and barge_in_grace_ms must be >= 0")
    if s.aec not in ("auto", "on", "off"):
        raise ConfigError(f"aec must be auto, on or off (got {s.aec!r})")
    if s.preemptive not in ("auto", "on", "off"):
        raise ConfigError(f"preemptive must be auto, on or off (got {s.preemptive!r})")
    if s.preemptive_ms <= 0:
        raise ConfigError("preemptive_ms must be > 0")
    if not 10 <= s.capture_block_ms <= 200:
        raise ConfigError("capture_block_ms must be 10-200")
    if not 0 <= s.speech_workers <= 16:
        raise ConfigError("speech_workers must be 0-16")
    if s.follow_up_ms < 0 or s.command_wait_ms < 0:
        raise ConfigError("follow_up_ms and command_wait_ms must be >= 0")
    if not (0.0 <= s.wake_threshold <= 1.0 and 0.0 <= s.wake_second_threshold <= 1.0):
        raise ConfigError("wake_threshold and wake_second_threshold must be 0-1 (0: the model's)")
    if s.wake_second_look != 0.0 and not 1.0 <= s.wake_second_look <= 2.0:
        raise ConfigError("wake_second_look must be 0 (off) or a slow-down factor of 1-2")
    if s.wake_onset_window_ms < 0:
        raise ConfigError("wake_onset_window_ms must be >= 0 (0: off)")
    if s.wake_end_window_ms < 0:
        raise ConfigError("wake_end_window_ms must be >= 0 (0: off)")
    if not 0.0 <= s.earcon_volume <= 1.0:
        raise ConfigError("earcon_volume must be between 0 and 1")
