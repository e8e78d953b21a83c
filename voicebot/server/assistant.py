"""The local assistant: deterministic, honest answers without a language model.

It tells the time and date, does arithmetic, repeats what it heard, sets and reports
timers, says what it can do, calls the client's tools when asked for one and speaks
their results; anything else gets "I heard ...; I can't help with that". Its only state
is its timers; the server keeps one assistant per conversation
(:mod:`.conversations`). Pure: the time is passed in, ids come from injected factories.

:data:`SKILL_PHRASES` are sentences these skills understand, for biasing a speech
recogniser towards them (``PocketsphinxRecognizer(phrases=SKILL_PHRASES)``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from collections.abc import Callable, Sequence
from fractions import Fraction

from .model import Reply, Segment, ToolSpec, Turn
from ..skills.timers import TimerBook, say_duration
from .numbers import find_expression, parse_duration_s, say_number, tokenize
from ..speech.sentences import split_sentences
from .toolmatch import choose_tool_call

__all__ = ["Assistant", "SKILL_PHRASES", "CAPABILITIES"]

SKILL_PHRASES: tuple[str, ...] = (
    "what time is it", "what is the time", "what is the date", "what day is it",
    "what is the date today", "what is twelve times seven", "what is two plus two",
    "what is ten minus three", "what is twenty divided by four",
    "what is the square root of sixteen", "set a timer for five minutes",
    "set a timer for thirty seconds", "set a timer for one hour",
    "how long is left on my timer", "how much time is left", "cancel the timer",
    "what can you do", "help", "repeat after me", "say hello", "say that again",
    "hello", "thank you", "what is the weather in paris",
)

CAPABILITIES = ("I can tell you the time and the date, do arithmetic like twelve times "
                "seven, set timers and tell you how long is left, and repeat what you "
                "say. I run locally, without a language model.")

_REPEAT = re.compile(r"^\s*(?:please\s+)?(?:repeat after me|say|repeat)\b[\s,:]*(.+)$",
                     re.IGNORECASE | re.DOTALL)
_REPEAT_AFTER_ME = re.compile(r"^\s*(?:please\s+)?repeat after me\b", re.IGNORECASE)
_AGAIN = re.compile(r"\b(say (that|it) again|repeat (that|yourself|it)|come again|"
                    r"what did you say)\b")
_HELP = re.compile(r"\b(what can you do|what do you do|help|what are you able|"
                   r"capabilit\w*|what are your skills)\b")
_TIME = re.compile(r"\b(what time|the time|time is it|current time|time now|tell me the "
                   r"time)\b")
_DATE = re.compile(r"\b(date|what day|which day|day is it|day is today|today's date)\b")
_GREETING = re.compile(r"^\s*(hi|hello|hey|good (morning|afternoon|evening)|thanks|"
                       r"thank you)\b")
_TIMER = re.compile(r"\btimers?\b|\b(time|how long) (is )?(left|remaining)\b")
_TIMER_SET = re.compile(r"\b(set|start|create|make|put on)\b")
_TIMER_CANCEL = re.compile(r"\b(cancel|stop|delete|clear|remove)\b")
_SSML_PREFIX = re.compile(r"^(\s*<speak\b[^>]*>\s*)(?:please\s+)?(?:repeat after me|say|"
                          r"repeat)\b[\s,:]*", re.IGNORECASE)


#: Echoed text is cut at this many characters: repeating a pasted essay helps nobody and
#: would hold a synthesis worker for minutes.
MAX_ECHO_CHARS = 300


def _clip(text: str) -> str:
    if len(text) <= MAX_ECHO_CHARS:
        return text
    cut = text[:MAX_ECHO_CHARS].rsplit(" ", 1)[0] or text[:MAX_ECHO_CHARS]
    return cut.rstrip(" ,;:") + ", and so on"


def _call_id() -> str:
    return "call_" + secrets.token_hex(12)


def _sentences(*texts: str) -> tuple[Segment, ...]:
    return tuple(Segment(t) for t in texts if t)


def say_clock(now: dt.datetime) -> str:
    hour = now.hour % 12 or 12
    return f"{hour}:{now.minute:02d} {'AM' if now.hour < 12 else 'PM'}"


class Assistant:
    """Answers a conversation. Not thread-safe: call it from the server's loop thread."""

    def __init__(self, *, timers: TimerBook | None = None,
                 new_call_id: Callable[[], str] = _call_id) -> None:
        self.timers = timers if timers is not None else TimerBook()
        self._new_call_id = new_call_id

    def respond(self, turns: Sequence[Turn], *, now: dt.datetime,
                tools: Sequence[ToolSpec] = (), tool_choice: str = "auto",
                forced_tool: str | None = None) -> Reply:
        """The reply to the last turn. ``now`` is timezone-aware local time."""
        if turns and turns[-1].role == "tool":
            return self._tool_results(turns)
        user = next((t for t in reversed(turns) if t.role == "user"), None)
        if user is None:
            return Reply(_sentences("Hello! Ask me something, for example what time it is."))
        acks = tuple(Segment(n) for n in user.notes)
        said = user.text.strip()
        # "Repeat after me: …" is an instruction to echo (the kiosk announces a timer
        # that way): no tool, however the words match one.
        if said and tools and not _REPEAT_AFTER_ME.match(said):
            call = choose_tool_call(said, tools, choice=tool_choice, forced=forced_tool,
                                    now=now, new_call_id=self._new_call_id)
            if call is not None:
                return Reply(tool_calls=(call,))
        if not said:
            if acks:
                return Reply(acks)
            if user.spoken:
                return Reply(_sentences("I didn't catch anything.", "Could you say that again?"))
            return Reply(_sentences("Your message was empty.", "Ask me something, for "
                                    "example what time it is."))
        reply = self._skill(said, user, turns, now)
        return Reply(acks + reply.segments, number=reply.number)

    def _skill(self, said: str, user: Turn, turns: Sequence[Turn], now: dt.datetime) -> Reply:
        low = " ".join(re.findall(r"[a-z0-9']+", said.lower()))
        if _AGAIN.search(low):
            last = next((t for t in reversed(turns[:-1]) if t.role == "assistant" and t.text),
                        None)
            if last is None:
                return Reply(_sentences("I haven't said anything yet."))
            return Reply(_sentences(*_split(last.text)))
        repeat = _REPEAT.match(said)
        if repeat and (not _TIMER.search(low) or _REPEAT_AFTER_ME.match(said)):
            return Reply(self._echo(repeat.group(1).strip(), user, strip_prefix=True))
        tokens = tokenize(said)
        if _TIMER.search(low):
            return Reply(self._timer(low, tokens, now))
        expression = find_expression(tokens)
        if expression is not None:
            if expression.value is None:
                return Reply(_sentences(f"I can't work out {expression.spoken}: "
                                        f"{expression.problem}."))
            return Reply(_sentences(f"{expression.spoken} is {say_number(expression.value)}."),
                         number=float(expression.value))
        if _TIME.search(low):
            return Reply(_sentences(f"It's {say_clock(now)}."))
        if _DATE.search(low):
            return Reply(_sentences(f"Today is {now:%A}, {now.day} {now:%B} {now.year}."))
        if _HELP.search(low):
            return Reply(_sentences(*_split(CAPABILITIES)))
        if _GREETING.match(low):
            return Reply(_sentences("Hello! What can I do for you?") if not low.startswith(
                "thank") else _sentences("You're welcome."))
        return Reply((Segment("I heard:"), *self._echo(said, user, strip_prefix=False),
                      Segment("I can't help with that."),
                      Segment("Ask me what I can do.")))

    @staticmethod
    def _echo(text: str, user: Turn, *, strip_prefix: bool) -> tuple[Segment, ...]:
        """Say ``text`` back; when the user sent SSML, render their markup too."""
        if user.ssml is None:
            text = _clip(text)
            return _sentences(text if text.endswith((".", "!", "?")) else text + ".")
        ssml = _SSML_PREFIX.sub(r"\1", user.ssml) if strip_prefix else user.ssml
        return (Segment(text, ssml=ssml),)

    def _timer(self, low: str, tokens: list[str | Fraction],
               now: dt.datetime) -> tuple[Segment, ...]:
        now_s = now.timestamp()
        if _TIMER_CANCEL.search(low):
            n = self.timers.cancel_all(now_s)
            return _sentences("There was no timer to cancel." if n == 0 else
                              f"I cancelled {n} timer{'s' if n != 1 else ''}.")
        duration = parse_duration_s(tokens)
        if _TIMER_SET.search(low) or (duration is not None and " for " in f" {low} "):
            if duration is None:
                return _sentences("For how long?", "Say, for example, set a timer for five "
                                  "minutes.")
            if duration > self.timers.max_duration_s:
                return _sentences(f"I can only set timers of up to "
                                  f"{say_duration(self.timers.max_duration_s)}.")
            timer = self.timers.set(duration, now_s)
            ends = now + dt.timedelta(seconds=duration)
            return _sentences(f"Timer {timer.id} is set for {say_duration(duration)}.",
                              f"It ends at {say_clock(ends)}.",
                              "I can't ring, so ask me how long is left.")
        timers = self.timers.active(now_s)
        if not timers:
            return _sentences("You have no timers.")
        lines = []
        for t in timers:
            left = t.due_at - now_s
            lines.append(f"Timer {t.id} has {say_duration(left)} left." if left > 0.5 else
                         f"Timer {t.id} ended {say_duration(-left)} ago.")
        return _sentences(*lines)

    @staticmethod
    def _tool_results(turns: Sequence[Turn]) -> Reply:
        """Speak the results of the tool calls answered at the end of ``turns``."""
        results: list[Turn] = []
        for t in reversed(turns):
            if t.role != "tool":
                break
            results.insert(0, t)
        segments: list[Segment] = []
        for t in results:
            body = _readable(t.text) or "nothing"
            if t.ssml is not None:
                segments.append(Segment(body, ssml=t.ssml))
            else:
                segments.extend(_sentences(*_split(_speak_result(t.tool_name, body, t.text))))
        return Reply(tuple(segments))


def _name_words(tool_name: str | None) -> set[str]:
    """A tool's name as lowercase words: ``get_current_time``, ``getCurrentTime`` and
    ``current-time`` all hold "time"; ``set_timer`` holds "timer", not "time"."""
    return {w.lower() for w in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+", tool_name or "")}


def _speak_result(tool_name: str | None, body: str, raw: str = "") -> str:
    """A tool result as the sentence a person would hear: a clock's answer is "It is
    …", not "The get current time tool says: …". Unknown tools are named, so the
    listener knows where the words come from. ``body``: the result as words
    (:func:`_readable`); ``raw``: as the tool returned it (a timer list's JSON)."""
    name = (tool_name or "").lower()
    words = _name_words(tool_name)
    label = name.replace("_", " ") or "the"
    if body.lower().startswith("error:"):
        return f"The {label} tool failed: {body[len('error:'):].strip()}"
    if words & {"time", "date", "clock", "datetime"}:
        return f"It is {body.rstrip('.')}."
    if re.search(r"calc|math|eval|arithmetic", name):
        return f"That is {body.rstrip('.')}."
    if words & _TIMER_WORDS:  # "timer 1 set for 8 seconds", "cancelled": said as they are
        return _speak_timers(raw) or f"{body[:1].upper()}{body[1:].rstrip('.')}."
    return f"The {label} tool says: {body}"


_TIMER_WORDS = {"timer", "timers", "alarm", "alarms", "countdown"}


def _speak_timers(text: str) -> str | None:
    """A timer tool's list (voicebot's ``list_timers``: ``[{"id", "label",
    "remaining_s"}]``) as sentences; None for anything else."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, list) or not all(
            isinstance(t, dict) and isinstance(t.get("remaining_s"), (int, float))
            for t in value):
        return None
    if not value:
        return "You have no timers."
    lines = []
    for t in value:
        label = f" for {t['label']}" if t.get("label") else ""
        lines.append(f"Timer {t.get('id', '')}{label} has "
                     f"{say_duration(max(1.0, float(t['remaining_s'])))} left.")
    return " ".join(lines)


def _readable(text: str) -> str:
    """A tool's JSON result as speakable words: ``{"temp": 21}`` → ``temp 21``."""
    text = text.strip()
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return _words(value)


def _words(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{str(k).replace('_', ' ')} {_words(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_words(v) for v in value)
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "none"}[value]
    return str(value)


def _split(text: str) -> list[str]:
    return split_sentences(text) or [text]
