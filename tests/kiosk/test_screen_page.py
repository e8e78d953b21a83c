"""The status screen in a real browser: headless Chromium (Debian's, driven by
Playwright; nothing downloaded) loads the page from a running screen server fed with
event records. Screenshots (under pytest's tmp dir) show each state in its own colour
with its word; a timer counts down; the buttons reach the kiosk's callback; the page
comes back by itself when the kiosk restarts."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from screenfixtures import running_screen

from voicebot.kiosk.screen import ScreenHub, ScreenServer
from voicebot.kiosk.screenstate import STATES, Mute, ScreenCommand, Talk
from voicebot.turntaking.events import (
    MuteChanged,
    StateChanged,
    TimerFired,
    TimerSet,
    TranscriptDelta,
    UserSaid,
)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

playwright_api = pytest.importorskip("playwright.async_api")
image = pytest.importorskip("PIL.Image")

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="Debian's chromium is not installed")

#: The official Raspberry Pi touch display.
VIEWPORT = {"width": 800, "height": 480}
WAIT_MS = 10_000


def run(main: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(main, 90))


@asynccontextmanager
async def browser_page(url: str) -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--no-first-run"])
        try:
            page = await browser.new_page(viewport=VIEWPORT)
            await page.goto(url)
            await page.wait_for_function("voicebot.connected", timeout=WAIT_MS)
            yield page
        finally:
            await browser.close()


async def show(page: Any, hub: ScreenHub, state: str, reason: str | None = None) -> None:
    hub.publish(StateChanged(state, reason=reason))
    await page.wait_for_function(f"document.getElementById('state').dataset.state === {state!r}",
                                 timeout=WAIT_MS)


def badge_colour(png: Path, box: dict[str, float]) -> tuple[int, int, int]:
    """The badge's fill: the commonest colour inside it (its word is a few pixels)."""
    with image.open(png) as shot:
        inner = shot.convert("RGB").crop((int(box["x"]) + 4, int(box["y"]) + 4,
                                          int(box["x"] + box["width"]) - 4,
                                          int(box["y"] + box["height"]) - 4))
        colours = inner.getcolors(inner.width * inner.height)
    assert colours
    count, colour = max(colours)
    assert count > inner.width * inner.height // 2
    return tuple(colour)


def page_colour(png: Path) -> tuple[int, int, int]:
    with image.open(png) as shot:
        return tuple(shot.convert("RGB").getpixel((2, VIEWPORT["height"] // 2)))


def test_each_state_has_its_word_and_its_colour(tmp_path: Path) -> None:
    colours: dict[str, tuple[int, int, int]] = {}

    async def main() -> None:
        async with running_screen() as (hub, server):
            async with browser_page(server.url) as page:
                hub.publish(UserSaid(turn=1, audio_s=1.2, transcript="what time is it"))
                hub.publish(TranscriptDelta(turn=1, text="It is ten past ten."))
                for state in STATES:
                    reason = "the microphone is gone" if state == "error" else None
                    await show(page, hub, state, reason)
                    png = tmp_path / f"screen-{state}.png"
                    await page.screenshot(path=str(png), animations="disabled")
                    badge = page.locator("#state")
                    assert (await badge.inner_text()).strip().lower() == state
                    colours[state] = badge_colour(png, await badge.bounding_box())
                    assert colours[state] != page_colour(png)
                    if reason:
                        assert await page.locator("#reason").inner_text() == reason
                    else:
                        assert not await page.locator("#reason").is_visible()
                assert await page.locator("#user").inner_text() == "what time is it"
                assert await page.locator("#assistant").inner_text() == "It is ten past ten."
                # A long answer shows its end, the words just spoken; its start is cut.
                story = " ".join(f"word{i}" for i in range(300))
                hub.publish(TranscriptDelta(turn=1, text=" " + story))
                await page.wait_for_function(
                    "document.getElementById('assistant-text').textContent.endsWith('word299')",
                    timeout=WAIT_MS)
                box = await page.evaluate("""() => {
                    const outer = document.getElementById('assistant').getBoundingClientRect();
                    const text = document.getElementById('assistant-text').getBoundingClientRect();
                    return {outerTop: outer.top, outerBottom: outer.bottom, textTop: text.top,
                            textBottom: text.bottom, height: innerHeight}; }""")
                assert box["textTop"] < box["outerTop"]  # the start is above, hidden
                assert box["textBottom"] <= box["outerBottom"] <= box["height"]
                await page.screenshot(path=str(tmp_path / "screen-long-answer.png"),
                                      animations="disabled")

    run(main())
    assert len(set(colours.values())) == len(STATES), colours

    def dominant(rgb: tuple[int, int, int]) -> int:
        return max(range(3), key=lambda i: rgb[i])

    # The README's colours: listening green, speaking blue, error red, thinking amber.
    assert dominant(colours["listening"]) == 1
    assert dominant(colours["speaking"]) == 2
    assert dominant(colours["error"]) == 0
    r, g, b = colours["thinking"]
    assert r > g > b
    r, g, b = colours["sleeping"]
    assert max(r, g, b) - min(r, g, b) < 40  # grey: no colour to mistake for a state


def test_a_timer_counts_down_and_shows_when_it_is_done() -> None:
    async def main() -> None:
        async with running_screen() as (hub, server):
            async with browser_page(server.url) as page:
                hub.publish(TimerSet(id="1", label="pasta", duration_s=125.0))
                left = page.locator('#timers li[data-id="1"] .left')
                await left.wait_for(timeout=WAIT_MS)
                assert await page.locator('#timers li[data-id="1"] .label').inner_text() == "pasta"
                first = await left.inner_text()
                await page.wait_for_function(
                    "first => document.querySelector('#timers li[data-id=\"1\"] .left')"
                    ".textContent !== first", arg=first, timeout=WAIT_MS)
                second = await left.inner_text()

                def seconds(text: str) -> int:
                    minutes, secs = text.split(":")
                    return int(minutes) * 60 + int(secs)

                assert 0 < seconds(second) < seconds(first) <= 125
                hub.publish(TimerFired(id="1", label="pasta", text="The pasta timer is done."))
                await page.wait_for_function(
                    "document.querySelector('#timers li[data-id=\"1\"]')"
                    ".classList.contains('done')", timeout=WAIT_MS)
                assert await left.inner_text() == "Done"

    run(main())


def test_the_buttons_reach_the_kiosk() -> None:
    commands: list[ScreenCommand] = []

    async def until(count: int) -> None:
        while len(commands) < count:
            await asyncio.sleep(0.01)

    async def main() -> None:
        async with running_screen(commands.append) as (hub, server):
            async with browser_page(server.url) as page:
                await page.click("#talk")
                await asyncio.wait_for(until(1), 10)
                await page.click("#mute")  # not muted: asks to mute
                await asyncio.wait_for(until(2), 10)
                # The kiosk muted: every screen shows it, and the button now unmutes.
                hub.publish(MuteChanged(True))
                await page.wait_for_function(
                    "document.getElementById('mute').getAttribute('aria-pressed') === 'true'",
                    timeout=WAIT_MS)
                assert await page.locator("#muted-chip").is_visible()
                assert await page.locator("#mute").inner_text() == "Unmute"
                await page.click("#mute")
                await asyncio.wait_for(until(3), 10)

    run(main())
    assert commands == [Talk(), Mute(True), Mute(False)]


def test_the_page_comes_back_when_the_kiosk_restarts() -> None:
    async def main() -> None:
        async with running_screen() as (hub, server):
            port = server.port
            async with browser_page(server.url) as page:
                await show(page, hub, "listening")
                await server.stop()
                await page.wait_for_function("!voicebot.connected", timeout=WAIT_MS)
                assert (await page.locator("#state").inner_text()).strip().lower() == "offline"
                assert await page.locator("#talk").is_disabled()
                again = ScreenHub(lambda c: None)
                again.publish(StateChanged("sleeping"))
                async with ScreenServer(again, port=port):
                    await page.wait_for_function(
                        "voicebot.connected && voicebot.snapshot.state === 'sleeping'",
                        timeout=WAIT_MS)
                    assert (await page.locator("#state").inner_text()).strip().lower() \
                        == "sleeping"

    run(main())
