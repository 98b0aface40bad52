"""LLM token stream -> text for the TTS, as it arrives (pure, no Trio).

``EarStream`` passes text on word by word (the TTS gets words while the model is
still writing, never waiting for a sentence) and rewrites it for the ear with
``saytext.for_the_ear``. That rewrite must see whole things: "£85.50",
"SW1A 1AA", "07700 900123" and "14:30" can be split across tokens, and the
postcode and phone patterns even span spaces. So a run of trailing words that
contain digits is held (they may be the start of a postcode or phone number)
until a word without digits follows or the reply ends, and so is the last word
(it may continue), unless no rewrite could ever apply to it: a plain word in
lower or mixed case ("Sure,", "Hello") goes at once. That matters for the first
word of a reply, which would otherwise wait for the model's next token; the TTS
providers join pieces verbatim, so a word that does continue ("Hel" + "lo") is
still said whole.

``RepeatGuard`` stops a model from saying the same thing twice around a tool
call ("Let me check that for you." ... tool ... "Let me check that for you. You're
booked in."): the start of the continuation is held while it still matches what
was said before the call; if it repeats all of it, that part is dropped.
"""

from __future__ import annotations

import re

from agent.dialogue.saytext import for_the_ear

__all__ = ["EarStream", "RepeatGuard"]

_SPACE = re.compile(r"\s")
# A word no rewrite in for_the_ear can touch, however it continues: letters (at
# least one lower case, so never a postcode's "SW"), apostrophes, then clause
# punctuation. No digits, currency, markdown or brackets.
_PLAIN_WORD = re.compile(r"(?=[^a-z]*[a-z])[A-Za-z'’]+[,.!?;:]*")


def _has_digit(word: str) -> bool:
    return any(c.isdigit() for c in word)


def _could_continue(word: str) -> bool:
    """A word that a following word may join into a postcode, phone number or price."""
    return _has_digit(word) or word in ("£", "$", "€", "+")


class EarStream:
    """Feed LLM deltas; get back text ready for the TTS (rewritten for the ear)."""

    def __init__(self, *, ear: bool = True) -> None:
        self._ear = ear
        self._held = ""
        self.raw = ""  # every delta fed, as given
        self.spoken = ""  # everything given out

    def feed(self, delta: str) -> str:
        self.raw += delta
        self._held += delta
        cut = self._safe_end(self._held)
        if not self._held[:cut].strip():
            return ""  # only spaces so far: they go with the next word
        ready, self._held = self._held[:cut], self._held[cut:]
        return self._out(ready)

    def flush(self) -> str:
        ready, self._held = self._held, ""
        return self._out(ready)

    def _out(self, text: str) -> str:
        text = for_the_ear(text) if self._ear and text.strip() else text
        self.spoken += text
        return text

    @staticmethod
    def _safe_end(text: str) -> int:
        """How much of ``text`` can go now: up to the whitespace before the held words."""
        spaces = [m.start() for m in _SPACE.finditer(text)]
        end = spaces[-1] + 1 if spaces else 0  # the last (maybe partial) word stays
        last = text[end:]
        while end > 0:
            before = text[:end].rstrip()
            start = max(before.rfind(" "), before.rfind("\n")) + 1
            word = before[start:]
            if not word or not _could_continue(word):
                break
            end = start  # hold the digit word too: "SW1A" + " 1AA"
        if text[end:] == last and _PLAIN_WORD.fullmatch(last):
            return len(text)  # nothing held before it, and it cannot change: let it go
        return end


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


class RepeatGuard:
    """Drop a continuation's restatement of ``previous`` (text said before a tool call)."""

    def __init__(self, previous: str) -> None:
        self._previous = _norm(previous)
        self._held = ""
        self._open = not self._previous  # nothing to compare with: pass everything
        self.dropped = ""

    def feed(self, delta: str) -> str:
        if self._open:
            return delta
        self._held += delta
        held = _norm(self._held)
        if not held:
            return ""
        if held.startswith(self._previous):
            # All of it was said again: drop that much, keep what follows.
            self._open = True
            rest = self._strip_repeat(self._held)
            self.dropped = self._held[: len(self._held) - len(rest)]
            return rest
        if self._previous.startswith(held):
            return ""  # still repeating (so far): wait
        self._open = True
        return self._held

    def flush(self) -> str:
        if self._open:
            return ""
        self._open = True
        held = self._held
        if _norm(held) and self._previous.startswith(_norm(held)):
            self.dropped = held  # a partial repeat that ended the reply: drop it too
            return ""
        return held

    def _strip_repeat(self, text: str) -> str:
        """``text`` after the characters that spell out ``previous``."""
        want = self._previous.replace(" ", "")
        matched = 0
        for i, char in enumerate(text):
            if char.isspace():
                continue
            if matched < len(want) and char.lower() == want[matched]:
                matched += 1
                if matched == len(want):
                    return text[i + 1 :].lstrip()
        return ""
