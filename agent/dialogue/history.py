"""The conversation as the LLM sees it, cut to what the caller actually heard.

``History`` keeps the whole call (for records) and gives the model a trimmed
view: ``for_llm()`` is the system prompt first, then the newest exchanges that
fit ``budget_chars``. Trimming drops whole exchanges (a user message and every
assistant/tool message up to the next user message), so an assistant tool call
is never separated from its results.

Interruptions: when the caller barges in, ``interrupt(heard_text=...)`` or
``interrupt(heard_chars=...)`` cuts the last assistant message to what playout
actually sent, at a word boundary, and marks it: ``...`` if it broke off
mid-sentence, then the note ``[interrupted by the caller]`` ("I can send someone
on Tues... [interrupted by the caller]"), so the model knows why, and neither
repeats itself nor assumes the rest was heard. (The chunker strips
``[...]`` before speech, so a model that imitates the note is never heard doing
it.) A message of which nothing was heard is removed, unless it carries tool
calls (those stay, without text, so the tool results keep their pair).

Consecutive user messages are merged: after an unheard, removed reply, the
caller's continuation ("my postcode is" + "SW1A 1AA") reads as one turn.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from agent.base.events import Message, ToolCall

__all__ = ["INTERRUPTED_NOTE", "History", "cut_to_heard", "mark_interrupted"]

INTERRUPTED_NOTE = " [interrupted by the caller]"
NOT_RUN_RESULT = "[not run: the caller spoke before it finished]"


def message_size(message: Message) -> int:
    """Characters the message costs in the prompt (a stand-in for tokens)."""
    size = len(message.content or "") + 16  # role and framing
    for call in message.tool_calls:
        size += len(call.id) + len(call.name) + len(call.arguments) + 16
    return size


def cut_to_heard(
    text: str, *, heard_text: str | None = None, heard_chars: int | None = None
) -> tuple[str, bool]:
    """``text`` cut to what was heard, at a word boundary; and whether it was cut.

    ``heard_chars`` counts characters of ``text`` sent to the caller. ``heard_text``
    is the text playout reports as sent: when it is not a plain prefix of ``text``
    (the TTS text was cleaned of markup), its word count is used instead.
    """
    if (heard_text is None) == (heard_chars is None):
        raise ValueError("cut_to_heard: give exactly one of heard_text or heard_chars")
    if heard_chars is not None:
        if heard_chars < 0:
            raise ValueError(f"cut_to_heard: heard_chars={heard_chars} is negative")
        end = heard_chars
    else:
        assert heard_text is not None
        heard = heard_text.strip()
        stripped = text.lstrip()
        if stripped.startswith(heard):
            end = len(text) - len(stripped) + len(heard)
        else:
            end = _end_of_word(text, len(heard.split()))
    if end >= len(text.rstrip()):
        return text, False
    cut = text[:end]
    if not text[end].isspace() and cut and not cut[-1].isspace():
        # Half a word was heard: keep only the whole words before it.
        space = max(cut.rfind(" "), cut.rfind("\n"))
        cut = cut[:space] if space >= 0 else ""
    return cut.rstrip(" \n\t,;:-—"), True


def mark_interrupted(heard: str) -> str:
    """``heard`` + "..." (unless it ended a sentence) + the interruption note."""
    ellipsis = "" if heard.endswith((".", "!", "?")) else "..."
    return heard + ellipsis + INTERRUPTED_NOTE


def _end_of_word(text: str, count: int) -> int:
    """Index just after the ``count``-th whitespace-separated word of ``text``."""
    end, seen, in_word = 0, 0, False
    for i, char in enumerate(text):
        if char.isspace():
            in_word = False
        elif not in_word:
            in_word = True
            seen += 1
        if in_word and seen == count:
            end = i + 1
        elif seen > count:
            break
    return end


class History:
    """The call's messages; the system prompt is always first."""

    def __init__(
        self,
        system_prompt: str,
        *,
        budget_chars: int = 24_000,
        measure: Callable[[Message], int] = message_size,
    ) -> None:
        if budget_chars < 1:
            raise ValueError(f"budget_chars={budget_chars}: must be at least 1")
        self.budget_chars = budget_chars
        self._measure = measure
        self._system = Message("system", system_prompt)
        self._turns: list[Message] = []

    @property
    def messages(self) -> tuple[Message, ...]:
        """The whole call, untrimmed."""
        return (self._system, *self._turns)

    def set_system_prompt(self, text: str) -> None:
        self._system = Message("system", text)

    def add_user(self, text: str) -> None:
        text = text.strip()
        if not text:
            raise ValueError("add_user: the caller's text is empty")
        self._close_pending_tools()
        if self._turns and self._turns[-1].role == "user":
            previous = self._turns.pop()
            text = f"{previous.content} {text}"
        self._turns.append(Message("user", text))

    def add_assistant(self, text: str | None, tool_calls: Iterable[ToolCall] = ()) -> None:
        calls = tuple(tool_calls)
        if not (text and text.strip()) and not calls:
            raise ValueError("add_assistant: a message needs text or tool calls")
        if pending := self.pending_tool_calls():
            raise ValueError(
                f"add_assistant: tool calls {[c.id for c in pending]} have no result yet"
            )
        self._turns.append(Message("assistant", text or None, calls))

    def add_tool_result(self, call_id: str, content: str) -> None:
        if call_id not in {call.id for call in self.pending_tool_calls()}:
            raise ValueError(f"add_tool_result: no tool call {call_id!r} is waiting for a result")
        self._turns.append(Message("tool", content, tool_call_id=call_id))

    def pending_tool_calls(self) -> tuple[ToolCall, ...]:
        """Tool calls of the last assistant message that have no result yet."""
        answered: set[str] = set()
        for message in reversed(self._turns):
            if message.role == "tool":
                answered.add(message.tool_call_id or "")
            elif message.role == "assistant" and message.tool_calls:
                return tuple(c for c in message.tool_calls if c.id not in answered)
            else:
                return ()
        return ()

    def interrupt(self, heard_text: str | None = None, *, heard_chars: int | None = None) -> bool:
        """Cut the reply being spoken to what was heard (see the module doc).
        Returns False when there was no reply to cut or all of it was heard."""
        self._close_pending_tools()
        index = self._last_spoken_reply()
        if index is None:
            return False
        message = self._turns[index]
        text, was_cut = cut_to_heard(
            message.content or "", heard_text=heard_text, heard_chars=heard_chars
        )
        if not was_cut:
            return False
        if text:
            self._turns[index] = Message("assistant", mark_interrupted(text), message.tool_calls)
        elif message.tool_calls:
            self._turns[index] = Message("assistant", None, message.tool_calls)
        else:
            del self._turns[index]
        return True

    def take_back(self) -> bool:
        """The caller had not finished (``turntaking_continue``): drop the reply to their
        last words, so the words they add next join them (``add_user`` merges). A tool
        that really ran stays (its effect is real); only its spoken text goes then.
        Returns True when the caller's words are last again."""
        self._close_pending_tools()
        last_user = max((i for i, m in enumerate(self._turns) if m.role == "user"), default=None)
        if last_user is None:
            return False
        tail = self._turns[last_user + 1 :]
        if all(m.role == "assistant" or m.content == NOT_RUN_RESULT for m in tail):
            del self._turns[last_user + 1 :]
            return True
        while self._turns[-1].role == "assistant" and not self._turns[-1].tool_calls:
            self._turns.pop()
        return False

    def for_llm(self, budget_chars: int | None = None) -> list[Message]:
        """System prompt + the newest whole exchanges within the budget (the last
        exchange is always kept, even if alone it is over budget)."""
        budget = self.budget_chars if budget_chars is None else budget_chars
        left = budget - self._measure(self._system)
        kept: list[list[Message]] = []
        for group in reversed(self._exchanges()):
            size = sum(self._measure(m) for m in group)
            if kept and size > left:
                break
            kept.append(group)
            left -= size
        return [self._system, *(m for group in reversed(kept) for m in group)]

    def to_openai(self, budget_chars: int | None = None) -> list[dict]:
        return [message.to_openai() for message in self.for_llm(budget_chars)]

    def open_question(self, skip: str = "") -> str | None:
        """The last question the agent asked since the caller last spoke ("And the
        postcode?"): what a reprompt asks again. ``skip``: the reprompt's own words
        ("Are you still there?"), never the question; ``None`` when there is none."""
        for message in reversed(self._turns):
            if message.role == "user":
                return None
            text = (message.content or "") if message.role == "assistant" else ""
            for question in reversed(re.findall(r"[^.!?]*\?", text)):
                question = " ".join(question.split())
                if question and question != skip.strip():
                    return question
        return None

    # --- internals ------------------------------------------------------------

    def _exchanges(self) -> list[list[Message]]:
        groups: list[list[Message]] = []
        for message in self._turns:
            if message.role == "user" or not groups:
                groups.append([])
            groups[-1].append(message)
        return groups

    def _last_spoken_reply(self) -> int | None:
        for index in range(len(self._turns) - 1, -1, -1):
            message = self._turns[index]
            if message.role == "user":
                return None
            if message.role == "assistant" and message.content:
                return index
        return None

    def _close_pending_tools(self) -> None:
        for call in self.pending_tool_calls():
            self._turns.append(Message("tool", NOT_RUN_RESULT, tool_call_id=call.id))
