"""``voicebot kiosk``: the turn-taking driver on the microphone and speaker, always on.

::

    mic ──capture thread (echo canceller, VAD, wake word)──▶ reports ──▶ Driver ──▶ TurnTaking core
    terminal keys / screen ──▶ Controls ──▶ PushToTalk, mute     │ (wake-word or
    timers ──▶ TimerDue ─────────────────────────────────────────┘  push-to-talk policy)
        core's commands: earcon ──▶ speaker's clip mixer · say ──▶ Announcer
        events ──▶ console (--json), systemd STATUS, the screen

The same pieces as ``chat`` (``localaudio.py``'s speaker, echo stage and microphone,
``pipeline.py``'s backend and session, the one :class:`~voicebot.driver.Driver`);
what is the kiosk's own is here: the gate
(wake word or talk button), earcons, mute, proactive speech, an unreachable
server announced once and probed with back-off, and systemd's notify protocol and
watchdog. Everything runs on the event loop's thread, except the capture thread
and PortAudio's callbacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

import numpy as np

from ..capture.aec import AecConfig
from ..capture.mic import MicrophoneSource
from ..capture.vad import UtteranceDetector
from ..capture.vadmodels import VoicedTap, make_classifier
from ..config import Settings
from ..console import Console
from ..driver import Driver
from ..errors import TransportError, VoicebotError
from ..localaudio import (audio_devices, capture_reports, echo_stage, mute_switch,
                          open_microphone, open_output)
from ..pipeline import backend, make_session, timer_input
from ..playback.speaker import Speaker
from ..recovery.mic import ResilientMicrophone
from ..recovery.speaker import ResilientSpeaker
from ..turntaking import TurnTaking
from ..turntaking.events import (DeviceStatus, ErrorEvent, Event, Listening, MuteChanged,
                                 Notice, StateChanged, TurnDone)
from ..turntaking.inputs import WakeWord, WakeWordEnd
from .announce import PROMPT, Announcer, LocalVoice
from .controls import Controls, TerminalKeys, key_char
from .earcons import EARCON_NAMES, duration_ms, synthesize
from .enroll import default_verifier_path
from .listen import WakeTap
from .notify import Notifier, Watchdog, watchdog_interval_s
from .screen import ScreenHub, ScreenServer
from .screenstate import Mute, ScreenCommand, ScreenState, Talk
from .backoff import Change
from .upstream import UpstreamMonitor
from .wakeword import WakeWordConfig, WakeWordDetector

__all__ = ["kiosk", "wake_word_name"]

_log = logging.getLogger(__name__)

#: Said once (locally) when the server stops answering.
OUTAGE_LINE = "I can't reach the server right now. I'll keep trying."
# Listening stays off this long after an earcon has played (a microphone that hears
# the speaker must not take the earcon's tail for speech).
_EARCON_GUARD_S = 0.15


def wake_word_name(settings: Settings) -> str | None:
    """The configured wake word, or None when there is none ("" or "none")."""
    name = settings.wake_word.strip()
    return None if name.lower() in ("", "none", "off") else name


def wake_word_config(settings: Settings, model: str) -> WakeWordConfig:
    """The wake-word detector's settings for ``model`` (raises :class:`ConfigError` for
    an unknown engine)."""
    return WakeWordConfig(
        model=model, engine=settings.wake_engine,
        threshold=settings.wake_threshold or None,
        onset_window_ms=settings.wake_onset_window_ms or None,
        end_window_ms=settings.wake_end_window_ms,
        second_engine=settings.wake_second_engine.strip() or None,
        second_threshold=settings.wake_second_threshold or None,
        second_look=settings.wake_second_look or None,
        verifier=verifier_path(settings, model))


def verifier_path(settings: Settings, wake: str) -> str | None:
    """The wake word's verifier (``wake_word_verifier``): "auto" → the enrolment saved
    for ``wake`` if there is one (``voicebot kiosk --enroll``)."""
    setting = settings.wake_word_verifier.strip()
    if setting.lower() in ("", "none", "off"):
        return None
    if setting.lower() == "auto":
        if settings.wake_second_look:  # they do not go together (WakeWordConfig)
            return None
        path = default_verifier_path(wake)
        return str(path) if path.is_file() else None
    return setting


class _Listening:
    """Whether the microphone is listened to: not while the user muted it, not while
    the core mutes it (half-duplex: a reply plays), and, while the microphone hears
    the speaker (``hears_speaker()``: half-duplex, or an echo canceller still
    learning the room), not while a turn runs nor while an earcon plays. Applies the
    result with ``apply`` (the detector's flag, or the recovering microphone's mute,
    which the capture thread reads from its next frame). Loop thread."""

    def __init__(self, apply: Callable[[bool], None], *, user_muted: bool,
                 hears_speaker: Callable[[], bool]) -> None:
        self._set = apply
        self.hears_speaker = hears_speaker
        self.user_muted = user_muted
        self.muted = user_muted
        self._core_muted = False
        self._replying = False
        self._guard_until = 0.0
        self._apply()

    def on_event(self, event: Event) -> None:
        """A driver subscriber: a turn (thinking, speaking) may play on the speaker."""
        if isinstance(event, StateChanged):
            self._replying = event.state in ("thinking", "speaking")
            self._apply()

    def set_user_muted(self, muted: bool) -> None:
        self.user_muted = muted
        self._apply()

    def set_core_muted(self, muted: bool) -> None:
        self._core_muted = muted
        self._apply()

    def guard(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        self._guard_until = max(self._guard_until, loop.time() + seconds)
        self._apply()
        loop.call_later(seconds, self._apply)

    def _apply(self) -> None:
        guarded = self._guard_until > asyncio.get_running_loop().time()
        echo = self._replying and self.hears_speaker()
        muted = self.user_muted or self._core_muted or guarded or echo
        if muted != self.muted and _log.isEnabledFor(logging.DEBUG):
            why = [name for name, on in (("by the user", self.user_muted),
                                         ("half-duplex", self._core_muted),
                                         ("an earcon", guarded),
                                         ("the speaker is heard", echo)) if on]
            _log.debug("listening %s", f"muted ({', '.join(why)})" if muted else "again")
        self.muted = muted
        self._set(self.muted)


class _Earcons:
    """The earcons at the speaker's rate, played through its clip mixer."""

    def __init__(self, speaker: Speaker | ResilientSpeaker, volume: float) -> None:
        self._speaker = speaker
        self._sounds = {name: synthesize(name, speaker.sample_rate) * np.float32(volume)
                        for name in EARCON_NAMES}

    def play(self, name: str) -> float:
        """Play ``name``; returns how long it lasts (s)."""
        sound = self._sounds[name]
        self._speaker.play_clip(sound)
        return len(sound) / self._speaker.sample_rate


async def kiosk(settings: Settings, console: Console, *, screen: bool = False,
                port: int = 8766) -> int:
    """Run the kiosk until a signal stops it; returns the exit code."""
    wake = wake_word_name(settings)
    talk_key, mute_key = key_char(settings.push_to_talk), key_char(settings.mute_key)
    push_to_talk = bool(talk_key) and wake is None
    # The model loads here (tens of ms), before anything opens: a bad name fails fast.
    wake_detector = (WakeWordDetector(wake_word_config(settings, wake)) if wake is not None
                     else None)
    notifier = Notifier()
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(notifier.close)
        if wake_detector is not None:
            stack.callback(wake_detector.close)  # after the capture thread has ended
        # Device statuses come before the driver exists: the console hears them first.
        publish: Callable[[Event], None] = console.publish
        # A microphone or speaker that goes away (unplugged, busy, the sound server
        # restarted) is waited for and taken back, with no restart (voicebot.recovery).
        devices = (audio_devices(settings, on_status=lambda event: publish(event))
                   if settings.reconnect else None)
        speaker = await open_output(settings, stack, devices)
        # Echo cancellation, wired as in chat: everything the speaker plays (replies,
        # earcons, local speech) is the reference; the cleaned audio feeds the VAD and
        # the wake word. Made before the microphone opens.
        # Until it has learnt the room the kiosk is half-duplex (below), so its
        # warm-up need not be deaf: "hey jarvis, [wake earcon] what time is it" is heard.
        # The guard keeps residual echo from the VAD only: the question said over a
        # reply or an earcon, and the wake word over a reply, are heard whole.
        echo = echo_stage(settings, speaker, stack, config=AecConfig(warmup_silence=False),
                          guard_vad_only=True)
        # The microphone hears the speaker: without echo cancellation (or with
        # barge_in = false) it is muted while a reply plays (mute_while_replying).
        policy = settings.kiosk_policy(echo_cancelled=echo is not None,
                                       wake_word=wake is not None, push_to_talk=push_to_talk)
        half_duplex = policy.mute_while_replying
        vad = settings.segmenter_config(echo_cancelled=echo is not None)
        # The VAD's verdicts also tell the wake word which blocks held speech.
        voiced = VoicedTap(make_classifier(settings.vad, vad.aggressiveness))
        detector = UtteranceDetector(vad, classify=voiced)

        def on_wake(name: str, position: int, at: float) -> None:
            if not listening.muted:  # muted since the capture thread heard it: not now
                driver.feed(WakeWord(name, position, at))
            else:
                _log.debug("wake word %s heard as listening was muted: ignored", name)

        def on_wake_end(position: int) -> None:
            if not listening.muted:
                driver.feed(WakeWordEnd(position))

        # With echo cancellation the wake word hears the filter's output, and the VAD
        # that gates it classifies that too (the detector's is on the guarded audio).
        tap = (WakeTap(wake_detector, asyncio.get_running_loop(), on_wake, on_wake_end,
                       voiced=voiced.take,
                       classify=(make_classifier(settings.vad, vad.aggressiveness)
                                 if echo is not None else None))
               if wake_detector is not None else None)
        # Fails fast at start: systemd restarts the service.
        mic = await open_microphone(settings, stack, devices, echo=echo, tap=tap)
        base_url = await stack.enter_async_context(backend(settings, console))
        session, timers = make_session(  # `driver` is bound below, before any timer fires
            settings, base_url, lambda timer: driver.feed(timer_input(timer)),
            on_timer_change=lambda record: driver.publish(record))  # the screen's countdowns
        stack.callback(timers.cancel_all)
        await stack.enter_async_context(session.client)

        def hears_speaker() -> bool:
            return half_duplex or (echo is not None and not echo.learnt)

        listening = _Listening(mute_switch(mic, detector), user_muted=settings.muted,
                               hears_speaker=hears_speaker)
        earcons = _Earcons(speaker, settings.earcon_volume)
        local = LocalVoice(speaker.play_clip, speaker.sample_rate, voice=settings.voice)
        stack.push_async_callback(local.aclose)

        def play_earcon(name: str) -> None:
            seconds = earcons.play(name)
            if name != "wake" and listening.hears_speaker():  # "wake": the user speaks on
                listening.guard(seconds + speaker.output_latency_s + _EARCON_GUARD_S)

        def upstream_changed(change: Change) -> None:
            if change.up:
                # A server that was down may have restarted and lost its audio store:
                # earlier replies go back as their words.
                session.conversation.forget_audio()
                driver.publish(Notice(message=change.message))
                notifier.set_problem(None)
            else:
                driver.publish(ErrorEvent(message=change.message))
                notifier.set_problem("the server cannot be reached")
                local.say(OUTAGE_LINE)

        monitor = UpstreamMonitor(base_url, upstream_changed,
                                  connect_timeout_s=settings.connect_timeout_s)
        stack.push_async_callback(monitor.aclose)

        def turn_failed(exc: VoicebotError) -> None:
            if isinstance(exc, TransportError):
                monitor.failed(str(exc))

        def turn_done(event: Event) -> None:
            if isinstance(event, TurnDone):
                monitor.succeeded()

        driver = Driver(TurnTaking(policy), session, sinks=[speaker],
                        subscribers=[console.publish, notifier.on_event, turn_done],
                        mute=listening.set_core_muted, say=lambda text: announcer.say(text),
                        earcon=play_earcon, fatal=(), turn_failed=turn_failed)
        announcer = Announcer(driver, local, lambda: monitor.health.up,
                              after_s=duration_ms("timer") / 1000 if settings.earcons else 0.0)

        def set_user_muted(muted: bool) -> None:
            listening.set_user_muted(muted)
            driver.publish(MuteChanged(muted=muted))
            if muted:
                notifier.set_status("muted")
            else:
                notifier.show_state()

        def talk_as_wake() -> None:
            # The button is no echo: it counts while a reply plays (and stops it), only
            # the user's mute holds it.
            if not listening.user_muted:
                driver.feed(WakeWord("talk", detector.position, time.monotonic()))

        def device_status(event: Event) -> None:
            driver.publish(event)
            if not isinstance(event, DeviceStatus):
                return
            if event.state == "lost":
                notifier.set_problem(f"{event.kind} device lost")
                if event.kind == "input" and settings.earcons:
                    play_earcon("error")  # the speaker may still be there to say it
            else:
                notifier.set_problem(None)
            notifier.show_state()

        publish = device_status
        controls = Controls(driver, set_user_muted, muted=settings.muted,
                            wake=talk_as_wake if wake is not None else None)
        driver.subscribers += [announcer.on_event, controls.on_event, listening.on_event]
        if screen:
            await stack.enter_async_context(_screen(port, driver, controls.command))

        where = mic.device_name
        driver.publish(Listening(source=where))
        keys = TerminalKeys({talk_key: "talk", mute_key: "mute"}, controls.command)
        with keys:
            if not console.json_mode:
                console.notice(_greeting(where, wake, talk_key if keys.active else "",
                                         mute_key if keys.active else ""))
            watchdog = _watchdog(notifier, mic)
            pinging = (asyncio.get_running_loop().create_task(watchdog.run())
                       if watchdog is not None else None)
            try:
                notifier.ready("muted" if settings.muted else "starting")
                await driver.run(capture_reports(mic, detector, echo=echo, tap=tap))
            finally:
                notifier.stopping()
                if pinging is not None:
                    pinging.cancel()
    return driver.exit_code


def _watchdog(notifier: Notifier, mic: MicrophoneSource | ResilientMicrophone
              ) -> Watchdog | None:
    """WATCHDOG=1 while the loop runs (the pings are its task) and the capture
    thread still reads blocks (a stalled device stops the pings), or a lost device
    is being retried (the recovery is alive; systemd's restart would not help)."""
    interval_s = watchdog_interval_s()
    if interval_s is None or not notifier.enabled:
        return None
    stall_s = max(1.0, 3 * mic.block_ms / 1000)

    def healthy() -> str | None:
        if isinstance(mic, ResilientMicrophone) and mic.recovering:
            return None
        last = mic.last_read_at
        if last is None:
            return "the microphone is not open"
        quiet_s = time.monotonic() - last
        return None if quiet_s < stall_s else f"no audio from the microphone for {quiet_s:.1f} s"

    return Watchdog(notifier, interval_s, healthy)


def _greeting(where: str, wake: str | None, talk_key: str, mute_key: str) -> str:
    how = [f"say “{wake.replace('_', ' ')}”" if wake else "speak"]
    if talk_key:
        how.append(f"press {_key_label(talk_key)} to talk")
    if mute_key:
        how.append(f"{_key_label(mute_key)} to mute")
    return f"listening on {where} — {', '.join(how)}; Ctrl-C to stop"


def _key_label(char: str) -> str:
    return {" ": "SPACE", "\n": "ENTER", "\t": "TAB"}.get(char, char.upper())


@contextlib.asynccontextmanager
async def _screen(port: int, driver: Driver, command: Callable[[str], None]
                  ) -> AsyncIterator[None]:
    """The status screen (:mod:`voicebot.kiosk.screen`): a driver subscriber that
    shows the records, and pages whose talk and mute buttons become
    :mod:`.controls` commands."""

    def on_command(cmd: ScreenCommand) -> None:
        if isinstance(cmd, Mute):
            command("mute.on" if cmd.muted else "mute.off")
        elif isinstance(cmd, Talk):
            command("talk")

    hub = ScreenHub(on_command, state=ScreenState(announcement_prefix=PROMPT))
    driver.subscribers.append(hub.publish)
    try:
        async with ScreenServer(hub, port=port):
            yield
    finally:
        hub.close()
