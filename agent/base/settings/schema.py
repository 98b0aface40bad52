"""What a declaration says: one ``Setting`` per environment variable, a ``Pattern``
for a family of names (``LLM_FALLBACK_<NAME>_MODEL``), a ``Category`` for
variables whose names the configuration itself gives (a company's booking key),
and the ``Schema`` that holds them all and refuses a contradiction (a name
twice, a default its own kind rejects, a number without bounds).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

import attrs

from agent.base.settings.kinds import Float, Int, SettingKind


@attrs.frozen
class Setting:
    """One environment variable. ``default`` is the typed value used when it is
    unset or empty, so ``NAME=`` in an env file is the same as no line (None:
    computed, ``default_doc`` says how)."""

    name: str
    kind: SettingKind
    default: Any
    doc: str  # one line, for .env.example and the reference
    section: str
    unit: str = ""  # s, ms, Hz, days, ...
    default_doc: str = ""
    old_names: tuple[str, ...] = ()  # deprecated spellings still read (with a warning)
    required_for: str = ""  # e.g. "Deepgram": an active (uncommented) line in .env.example
    written: bool = False  # set by the agent itself (for a library), not by users


@attrs.frozen
class Pattern:
    """A family of variables: ``template`` with ``{NAME}`` standing for one of ``parts``."""

    template: str  # e.g. "LLM_FALLBACK_{NAME}_MODEL"
    parts: tuple[str, ...]
    kind: SettingKind
    doc: str
    section: str
    default_doc: str = ""
    unit: str = ""

    def name(self, part: str) -> str:
        if part.upper() not in self.parts:
            raise LookupError(f"{self.template}: {part!r} is not one of {self.parts}")
        return self.template.replace("{NAME}", part.upper())

    def names(self) -> tuple[str, ...]:
        return tuple(self.name(part) for part in self.parts)

    def shape(self) -> re.Pattern[str]:
        """Any NAME, declared or not (to spot a misspelt one)."""
        head, _, tail = self.template.partition("{NAME}")
        return re.compile(re.escape(head) + r"([A-Z0-9_]+)" + re.escape(tail))


@attrs.frozen
class Category:
    """Variables named by the configuration, e.g. ``booking_api.key_env`` in the
    companies file: their names are not known in advance, their kind is."""

    label: str
    named_by: str  # where the name is given
    kind: SettingKind
    doc: str
    section: str


class Schema:
    def __init__(
        self,
        sections: dict[str, str],
        settings: Iterable[Setting],
        patterns: Iterable[Pattern] = (),
        categories: Iterable[Category] = (),
    ) -> None:
        self.sections = dict(sections)
        self.settings: dict[str, Setting] = {}
        self.old_names: dict[str, Setting] = {}
        self.patterns = {p.template: p for p in patterns}
        self.categories = {c.label: c for c in categories}
        for setting in settings:
            self._add(setting)
        for item in (*self.patterns.values(), *self.categories.values()):
            if item.section not in self.sections:
                raise ValueError(f"{item}: unknown section {item.section!r}")
        for pattern in self.patterns.values():
            clash = set(pattern.names()) & (set(self.settings) | set(self.old_names))
            if clash:
                raise ValueError(f"{pattern.template} also declared alone: {sorted(clash)}")

    def _add(self, setting: Setting) -> None:
        name = setting.name
        if name in self.settings or name in self.old_names:
            raise ValueError(f"{name} declared twice")
        if setting.section not in self.sections:
            raise ValueError(f"{name}: unknown section {setting.section!r}")
        if isinstance(setting.kind, (Int, Float)) and not (
            setting.kind.lo > -1e300 and setting.kind.hi < 1e300
        ):
            raise ValueError(f"{name}: a number needs finite bounds")
        if setting.default is not None:
            setting.kind.check(setting.default)  # a default its kind refuses is a bug
        self.settings[name] = setting
        for old in setting.old_names:
            if old in self.settings or old in self.old_names:
                raise ValueError(f"{old} (old name of {name}) declared twice")
            self.old_names[old] = setting

    def __getitem__(self, name: str) -> Setting:
        try:
            return self.settings[name]
        except KeyError:
            raise LookupError(
                f"{name} is not declared in the settings schema (agent/base/settings)"
            ) from None

    def __iter__(self) -> Iterator[Setting]:
        return iter(self.settings.values())

    def __len__(self) -> int:
        return len(self.settings)

    def pattern(self, template: str) -> Pattern:
        try:
            return self.patterns[template]
        except KeyError:
            raise LookupError(
                f"pattern {template} is not declared in the settings schema"
            ) from None

    def pattern_of(self, name: str) -> Pattern | None:
        """The pattern ``name`` belongs to (with a declared NAME), if any."""
        for pattern in self.patterns.values():
            if name in pattern.names():
                return pattern
        return None

    def declares(self, name: str) -> bool:
        return name in self.settings or name in self.old_names or self.pattern_of(name) is not None

    def in_section(self, section: str) -> list[Setting]:
        return [s for s in self.settings.values() if s.section == section]

    def prefixes(self) -> tuple[str, ...]:
        """The leading words of every declared name (``VOICE_AGENT_``, ``DEEPGRAM_``...):
        an unknown variable with one of them is probably misspelt."""
        words = {name.split("_", 1)[0] for name in self.settings if not self.settings[name].written}
        if "VOICE" in words:
            words.discard("VOICE")
            words.add("VOICE_AGENT")
        return tuple(sorted(f"{word}_" for word in words))
