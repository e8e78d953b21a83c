"""The kiosk's buttons: talk (tap or hold) and mute reach the core as inputs, and
single keys typed on a real terminal (a pty) become commands."""

from __future__ import annotations

import asyncio
import os

import pytest

from voicebot.driver import Driver
from voicebot.errors import ConfigError
from voicebot.kiosk.controls import Controls, TerminalKeys, key_char
from voicebot.session.client import ChatClient
from voicebot.session.turn import Session
from voicebot.turntaking import Policy, TurnTaking
from voicebot.turntaking.events import Event, StateChanged


def test_key_names() -> None:
    assert key_char("") == ""
    assert key_char("space") == " " and key_char("Enter") == "\n" and key_char("t") == "t"
    with pytest.raises(ConfigError):
        key_char("ctrl-t")


async def _driver(policy: Policy) -> tuple[Driver, list[str]]:
    states: list[str] = []

    def seen(event: Event) -> None:
        if isinstance(event, StateChanged):
            states.append(event.state)

    session = Session(ChatClient("http://127.0.0.1:9/v1"))
    driver = Driver(TurnTaking(policy), session, subscribers=[seen])
    driver._carry_out(driver.core.start())
    return driver, states


def test_talk_button_opens_and_closes_the_push_to_talk_gate() -> None:
    async def main() -> list[str]:
        driver, states = await _driver(Policy(push_to_talk=True))
        mutes: list[bool] = []
        controls = Controls(driver, mutes.append)
        controls.command("talk")  # a tap: on
        controls.command("talk")  # again: off
        controls.command("talk.down")
        controls.command("talk.down")  # already down: nothing
        controls.command("talk.up")
        controls.command("mute")
        controls.command("mute.on")  # already muted
        controls.command("mute.off")
        assert mutes == [True, False]
        with pytest.raises(ValueError):
            controls.command("dance")
        await driver.session.client.aclose()
        return states

    assert asyncio.run(main()) == ["sleeping", "listening", "sleeping", "listening", "sleeping"]


def test_a_tapped_talk_button_goes_off_when_its_turn_starts() -> None:
    async def main() -> list[str]:
        driver, states = await _driver(Policy(push_to_talk=True))
        controls = Controls(driver, lambda muted: None)
        controls.command("talk")
        controls.on_event(StateChanged(state="thinking"))
        await asyncio.sleep(0)
        assert not controls.talking
        await driver.session.client.aclose()
        return states

    assert asyncio.run(main()) == ["sleeping", "listening", "sleeping"]


def test_terminal_keys_on_a_pty() -> None:
    master, slave = os.openpty()
    got: list[str] = []

    class Tty:
        def isatty(self) -> bool:
            return True

        def fileno(self) -> int:
            return slave

    async def main() -> None:
        with TerminalKeys({" ": "talk", "m": "mute"}, got.append, stream=Tty()) as keys:
            assert keys.active
            os.write(master, b" xm ")
            for _ in range(100):
                if len(got) == 3:
                    break
                await asyncio.sleep(0.01)
        assert not keys.active

    try:
        import termios

        before = termios.tcgetattr(slave)
        asyncio.run(main())
        assert termios.tcgetattr(slave) == before  # the terminal's mode is restored
    finally:
        os.close(master)
        os.close(slave)
    assert got == ["talk", "mute", "talk"]


def test_terminal_keys_do_nothing_without_a_terminal() -> None:
    class Pipe:
        def isatty(self) -> bool:
            return False

    async def main() -> None:
        with TerminalKeys({" ": "talk"}, lambda name: None, stream=Pipe()) as keys:
            assert not keys.active

    asyncio.run(main())
