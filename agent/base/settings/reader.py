"""Reading the environment through the schema: the one place that touches it.

``Env(mapping)`` (``None``: the process environment) answers ``get(NAME)`` with
the typed value, the schema's default when the variable is unset or empty, or a
``ConfigError`` reading ``NAME='value': reason``. A name the schema does not
declare is a bug (``LookupError``). A deprecated spelling is still read, with
one WARNING naming the old and the new name.

Settings classes declare their fields with ``setting(NAME)`` (default, validator
and the variable's name from the schema) and build with ``read_settings(cls,
env)``. ``export`` is how the agent sets a variable for a library.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

import attrs

from agent.base.errors import ConfigError
from agent.base.settings.catalog import SCHEMA
from agent.base.settings.kinds import EnvName, Secret, SettingKind
from agent.base.settings.schema import Setting

log = logging.getLogger("agent.base.settings")

ENV_METADATA = "env"  # attrs field metadata key: the variable a field is read from
_SHOWN = 60  # characters of a bad value quoted in a message
# Variables named like keys whose names the configuration gives (booking keys...).
_KEY_LIKE = re.compile(r"(?:KEY|TOKEN|SECRET|PASSWORD)$")
_warned: set[str] = set()
T = TypeVar("T")


def shown(kind: SettingKind, value: object) -> str:
    """The value as a message quotes it: repr, cut short; a secret never."""
    if isinstance(kind, Secret):
        return "[hidden]"
    if isinstance(value, str) and len(value) > _SHOWN:
        return repr(value[:_SHOWN]) + f"... ({len(value)} characters)"
    return repr(value)


def parse(kind: SettingKind, name: str, text: str) -> Any:
    try:
        return kind.parse(text)
    except ValueError as exc:
        raise ConfigError(f"{name}={shown(kind, text)}: {exc}") from None


def _deprecated(old: str, new: str, *, ignored: bool) -> None:
    if old in _warned:
        return
    _warned.add(old)
    if ignored:
        log.warning("%s is deprecated and ignored: %s is set", old, new)
    else:
        log.warning("%s is deprecated: rename it %s (the old name still works for now)", old, new)


class Env:
    """The environment (or any mapping standing for one), read through the schema."""

    def __init__(self, source: Mapping[str, str] | None = None) -> None:
        self._source: Mapping[str, str] = os.environ if source is None else source

    @classmethod
    def of(cls, env: Mapping[str, str] | Env | None) -> Env:
        return env if isinstance(env, Env) else cls(env)

    def _text(self, setting: Setting) -> tuple[str, str] | None:
        """(the name set, its stripped text); an old name counts when the new is unset."""
        value = self._source.get(setting.name)
        for old in setting.old_names:
            if old in self._source:
                _deprecated(old, setting.name, ignored=value is not None)
                if value is None:
                    return old, self._source[old].strip()
        return None if value is None else (setting.name, value.strip())

    def get(self, name: str) -> Any:
        """The typed value of ``name`` (its default when unset or empty)."""
        setting = SCHEMA[name]
        found = self._text(setting)
        if found is None or not found[1]:  # unset or empty: the default, for every setting
            return setting.default
        return parse(setting.kind, found[0], found[1])

    def text(self, name: str) -> str | None:
        """The stripped text of ``name`` (or its old name) as set, for a message."""
        found = self._text(SCHEMA[name])
        return None if found is None else found[1]

    def is_set(self, name: str) -> bool:
        """Whether ``name`` (or its old name) has a non-empty value."""
        found = self._text(SCHEMA[name])
        return found is not None and bool(found[1])

    def given(self, name: str) -> bool:
        """Whether ``name`` (or its old name) is in the environment at all, even empty."""
        return self._text(SCHEMA[name]) is not None

    def pattern(self, template: str, part: str) -> Any:
        """The value of one member of a pattern (``LLM_FALLBACK_{NAME}_MODEL``), or None."""
        pattern = SCHEMA.pattern(template)
        name = pattern.name(part)
        text = self._source.get(name, "").strip()
        return parse(pattern.kind, name, text) if text else None

    def named(self, label: str, name: str) -> Any:
        """The value of a variable whose name the configuration gives (a category), or None."""
        category = SCHEMA.categories[label]
        parse(EnvName(), category.named_by, name)
        text = self._source.get(name, "").strip()
        return parse(category.kind, name, text) if text else None

    # --- the whole environment -----------------------------------------------------

    def problems(self) -> list[ConfigError]:
        """Every declared variable that is set and does not parse, in schema order."""
        found = []
        for setting in SCHEMA:
            try:
                self.get(setting.name)
            except ConfigError as exc:
                found.append(exc)
        for pattern in SCHEMA.patterns.values():
            for part in pattern.parts:
                try:
                    self.pattern(pattern.template, part)
                except ConfigError as exc:
                    found.append(exc)
        return found

    def validate(self) -> None:
        """Raise the first problem (start-up stops on it)."""
        problems = self.problems()
        if problems:
            raise problems[0]

    def unknown(self) -> list[str]:
        """Set variables that look like ours but are not declared, each with a hint."""
        prefixes = SCHEMA.prefixes()
        named = {self._source.get("VOICE_AGENT_CONTEXT_KEY_ENV", "").strip()}
        declared = [*SCHEMA.settings, *SCHEMA.old_names]
        out = []
        for name in sorted(self._source):
            if not name.startswith(prefixes) or SCHEMA.declares(name) or name in named:
                continue
            close = difflib.get_close_matches(name, declared, n=1, cutoff=0.8)
            out.append(
                f"{name} is not a setting" + (f" (did you mean {close[0]}?)" if close else "")
            )
        return out

    def deprecated(self) -> list[tuple[str, str]]:
        """(old, new) for every deprecated spelling in the environment."""
        return [(old, s.name) for old, s in SCHEMA.old_names.items() if old in self._source]

    def secret_values(self) -> Iterator[str]:
        """Values to hide from the logs: declared secrets and anything named like a key."""
        for name, value in self._source.items():
            setting = SCHEMA.settings.get(name) or SCHEMA.old_names.get(name)
            secret = setting is not None and isinstance(setting.kind, Secret)
            if value.strip() and (secret or _KEY_LIKE.search(name.upper())):
                yield value.strip()

    def snapshot(self) -> dict[str, str]:
        """A copy of the environment (for a child process, or a check run on it)."""
        return dict(self._source)


# --- settings classes --------------------------------------------------------------


def default_of(name: str) -> Any:
    return SCHEMA[name].default


def _validator(name: str):
    kind = SCHEMA[name].kind
    optional = SCHEMA[name].default is None  # None stands for "unset"

    def check(instance: object, attribute: attrs.Attribute, value: Any) -> None:
        if value is None and optional:
            return
        try:
            kind.check(value)
        except ValueError as exc:
            raise ConfigError(f"{name}={shown(kind, value)}: {exc}") from None

    return check


def setting(name: str, **field: Any) -> Any:
    """An attrs field read from variable ``name``: its default (unless given;
    ``default=attrs.NOTHING`` makes it mandatory) and its validator come from the
    schema, so a value made in code is held to the same rule."""
    declared = SCHEMA[name]
    field.setdefault("default", declared.default)
    return attrs.field(validator=_validator(name), metadata={ENV_METADATA: name}, **field)


def read_settings(cls: type[T], env: Mapping[str, str] | Env | None = None, **given: Any) -> T:
    """``cls`` with every ``setting(...)`` field that is set in ``env`` read from it;
    the others keep their defaults; ``given`` fields win."""
    reader = Env.of(env)
    values = dict(given)
    for field in attrs.fields(cls):  # type: ignore[arg-type]
        name = field.metadata.get(ENV_METADATA)
        if name is not None and field.alias not in values and reader.is_set(name):
            values[field.alias] = reader.get(name)
    return cls(**values)


def export(name: str, value: Any, *, only_if_unset: bool = False) -> None:
    """Set a declared variable in this process's environment (for a library, or the
    child processes): the one way the agent writes the environment."""
    declared = SCHEMA[name]
    if not declared.written:
        raise LookupError(f"{name} is not declared as written by the agent")
    text = declared.kind.show(value)
    if only_if_unset:
        os.environ.setdefault(name, text)
    else:
        os.environ[name] = text
