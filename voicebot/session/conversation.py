"""The message history of one conversation, rendered into a request's ``messages``. Pure.

Entries are appended as the conversation happens (user turn, assistant reply, tool
calls and their results) and rendered on demand by :meth:`Conversation.messages`,
which takes the wall-clock time as a number because whether an earlier spoken reply
may still be referenced by its ``audio.id`` depends on its ``expires_at``.

Bounds, so requests do not grow forever:

* Only the last ``max_exchanges`` exchanges are kept. An exchange is one user turn
  and everything that followed it (assistant replies, tool calls, tool results), so
  dropping whole exchanges never leaves a tool result without its call.
* Only the last ``max_audio_turns`` user turns keep their ``input_audio`` parts.
  Older audio parts are replaced by the turn's transcript when one is known
  (:meth:`Conversation.add_user` / :meth:`Conversation.set_user_transcript`) and
  dropped otherwise; a turn left with no parts becomes the text ``[voice message]``
  so the model still sees that the user spoke. Images are kept.

An assistant reply is sent as ``{"audio": {"id": ...}}`` while its audio has not
expired (with ``expiry_margin_s`` to spare, since a request takes time to arrive),
otherwise as its transcript (or text). A reply whose ``expires_at`` is unknown is
sent as text: referencing an expired id fails the whole request, while text only
risks the model drifting to text replies.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Union

from voicebot.protocol.request import assistant_message, text_part, tool_message
from voicebot.protocol.toolcalls import ToolCall

__all__ = ["Conversation", "UserTurn", "AssistantTurn", "ToolResult", "VOICE_PLACEHOLDER"]

VOICE_PLACEHOLDER = "[voice message]"


@dataclass(frozen=True)
class UserTurn:
    parts: tuple[dict[str, Any], ...]
    transcript: str | None = None


@dataclass(frozen=True)
class AssistantTurn:
    text: str = ""
    transcript: str = ""
    audio_id: str | None = None
    expires_at: float | None = None
    tool_calls: tuple[ToolCall, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class ToolResult:
    call_id: str
    content: str


Entry = Union[UserTurn, AssistantTurn, ToolResult]


class Conversation:
    """History of a conversation. Not thread-safe: use it from the event loop thread.

    Call :meth:`checkpoint` before a turn and :meth:`rollback` to undo what the turn
    appended if it fails; :meth:`messages` renders the request's ``messages``.
    """

    def __init__(self, system_prompt: str | None = None, *, max_exchanges: int = 20,
                 max_audio_turns: int = 2, expiry_margin_s: float = 30.0) -> None:
        if max_exchanges < 1 or max_audio_turns < 0:
            raise ValueError("max_exchanges must be >= 1 and max_audio_turns >= 0")
        self.system_prompt = system_prompt
        self.max_exchanges = max_exchanges
        self.max_audio_turns = max_audio_turns
        self.expiry_margin_s = expiry_margin_s
        self._entries: list[Entry] = []
        # Sequence number of _entries[0]; marks from checkpoint() stay valid when the
        # cap drops old entries from the front.
        self._first_seq = 0

    # -- appending ---------------------------------------------------------------

    def add_user(self, parts: Sequence[dict[str, Any]] | str, transcript: str | None = None) -> None:
        """Append a user turn (content parts, or plain text) and apply the history cap.

        ``transcript`` is what the user said, when known; it stands in for the audio
        once the turn is older than ``max_audio_turns``.
        """
        if isinstance(parts, str):
            parts = [text_part(parts)]
        self._entries.append(UserTurn(tuple(parts), transcript or None))
        self._apply_cap()

    def set_user_transcript(self, transcript: str) -> None:
        """Attach ``transcript`` to the latest user turn (e.g. from local speech-to-text)."""
        for i in range(len(self._entries) - 1, -1, -1):
            entry = self._entries[i]
            if isinstance(entry, UserTurn):
                self._entries[i] = UserTurn(entry.parts, transcript or None)
                return
        raise ValueError("no user turn to attach a transcript to")

    def add_assistant(self, text: str = "", transcript: str = "", audio_id: str | None = None,
                      expires_at: float | None = None,
                      tool_calls: Iterable[ToolCall] = ()) -> None:
        """Append an assistant reply: its text, its spoken transcript, the id and expiry
        (epoch seconds) of its audio, and the tool calls it asked for."""
        self._entries.append(AssistantTurn(text, transcript, audio_id, expires_at,
                                           tuple(tool_calls)))

    def truncate_last_assistant(self, heard_transcript: str) -> None:
        """Replace the last assistant reply by the part the user heard before an
        interruption (sent as text from now on: the audio id covers the whole reply)."""
        for i in range(len(self._entries) - 1, -1, -1):
            entry = self._entries[i]
            if isinstance(entry, AssistantTurn):
                self._entries[i] = AssistantTurn(text="", transcript=heard_transcript,
                                                 tool_calls=entry.tool_calls)
                return
            if isinstance(entry, UserTurn):
                break
        raise ValueError("no assistant reply after the last user turn")

    def add_tool_result(self, call_id: str, content: str) -> None:
        """Append the result of the tool call ``call_id``; add it after the assistant
        reply that made the call."""
        self._entries.append(ToolResult(call_id, content))

    def forget_audio(self) -> None:
        """Refer to every earlier reply by its words from now on, not by ``audio.id``:
        the server restarted (or is another one) and its audio store is gone."""
        self._entries = [replace(e, audio_id=None, expires_at=None)
                         if isinstance(e, AssistantTurn) and e.audio_id is not None else e
                         for e in self._entries]

    # -- undo ----------------------------------------------------------------------

    def checkpoint(self) -> int:
        """A mark for :meth:`rollback`: everything appended after it can be undone."""
        return self._first_seq + len(self._entries)

    def rollback(self, mark: int) -> None:
        """Remove every entry appended since ``mark`` (entries the cap already dropped
        are gone either way)."""
        keep = max(0, mark - self._first_seq)
        del self._entries[keep:]

    # -- reading -------------------------------------------------------------------

    @property
    def entries(self) -> tuple[Entry, ...]:
        return tuple(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def messages(self, now: float) -> list[dict[str, Any]]:
        """Render the request's ``messages`` as of wall-clock time ``now`` (epoch seconds)."""
        out: list[dict[str, Any]] = []
        if self.system_prompt:
            out.append({"role": "system", "content": self.system_prompt})
        user_indexes = [i for i, e in enumerate(self._entries) if isinstance(e, UserTurn)]
        keep_audio = set(user_indexes[len(user_indexes) - self.max_audio_turns:]
                         if self.max_audio_turns else ())
        for i, entry in enumerate(self._entries):
            if isinstance(entry, UserTurn):
                parts = entry.parts if i in keep_audio else _without_audio(entry)
                out.append({"role": "user", "content": list(parts)})
            elif isinstance(entry, AssistantTurn):
                message = self._render_assistant(entry, now)
                if message is not None:
                    out.append(message)
            else:
                out.append(tool_message(entry.call_id, entry.content))
        return out

    def _render_assistant(self, turn: AssistantTurn, now: float) -> dict[str, Any] | None:
        calls = list(turn.tool_calls) or None
        if (turn.audio_id is not None and turn.expires_at is not None
                and now < turn.expires_at - self.expiry_margin_s):
            return assistant_message(None, turn.audio_id, calls)
        text = turn.transcript or turn.text
        if not text and calls is None:
            return None  # nothing was said: an empty assistant message only confuses
        return assistant_message(text or None, None, calls)

    def _apply_cap(self) -> None:
        starts = [i for i, e in enumerate(self._entries) if isinstance(e, UserTurn)]
        if len(starts) > self.max_exchanges:
            cut = starts[len(starts) - self.max_exchanges]
            del self._entries[:cut]
            self._first_seq += cut


def _without_audio(turn: UserTurn) -> tuple[dict[str, Any], ...]:
    # The transcript takes the place of the first audio part so the order of what
    # the user sent (e.g. "look at this" + image) is kept.
    parts: list[dict[str, Any]] = []
    replaced = False
    for part in turn.parts:
        if part.get("type") != "input_audio":
            parts.append(part)
        elif not replaced:
            replaced = True
            if turn.transcript:
                parts.append(text_part(turn.transcript))
    if not replaced:
        return turn.parts
    return tuple(parts) if parts else (text_part(VOICE_PLACEHOLDER),)
