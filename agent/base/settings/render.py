"""``.env.example`` and ``docs/configuration.md``, generated from the schema.

The env file is valid for systemd's ``EnvironmentFile=`` and for a shell's
``set -a; . ./.env``: comments only on lines of their own (systemd keeps a
``# ...`` after the ``=`` as part of the value), no blanks around values, and
every value shown is one both read the same way.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

from agent.base.settings.catalog import SCHEMA, SECTIONS
from agent.base.settings.schema import Setting

GENERATED_BY = "python -m agent.base.settings"
_PLAIN = re.compile(r"[A-Za-z0-9_./:,@+\-]*")


def _text(setting: Setting, value: Any) -> str:
    """The default as env-file text; quoted when systemd and a shell could differ."""
    if value is None:
        return ""
    text = setting.kind.show(value)
    if not _PLAIN.fullmatch(text):
        if "'" in text:
            raise ValueError(f"{setting.name}: default {text!r} cannot be quoted")
        text = f"'{text}'"
    return text


def _default_words(setting: Setting) -> str:
    if setting.default_doc:
        return setting.default_doc
    if setting.default is None or setting.default == ():
        return "unset"
    return setting.kind.show(setting.default) + (f" {setting.unit}" if setting.unit else "")


def _comment(text: str) -> list[str]:
    return [f"# {line}" for line in textwrap.wrap(text, width=86)]


def env_example() -> str:
    lines = [
        "# voice-agent configuration. Generated from the settings schema (agent/base/settings)",
        f"# by `{GENERATED_BY} --env-example` (make config-docs): do not edit by hand.",
        "#",
        "# Copy it to /etc/voice-agent/env, the EnvironmentFile of the systemd unit",
        "# (asterisk/voice-agent.service), and check it the way systemd reads it:",
        "#     voice-agent check --env-file /etc/voice-agent/env",
        "# In a shell: set -a; . ./.env; set +a",
        "#",
        "# Comments are on lines of their own: systemd keeps anything after the '=' (a '# ...'",
        "# too) as part of the value. An empty value means the default. A '#NAME=value' line",
        "# shows the default: remove the '#' to change it. Reference: docs/configuration.md",
    ]
    for section, title in SECTIONS.items():
        settings = [s for s in SCHEMA.in_section(section) if not s.written]
        patterns = [p for p in SCHEMA.patterns.values() if p.section == section]
        if not settings and not patterns:
            continue
        lines += ["", f"# --- {section}: {title} ---"]
        for s in settings:
            words = s.doc[0].upper() + s.doc[1:] + (f" [{s.unit}]." if s.unit else ".")
            if s.default_doc:
                words += f" Default: {s.default_doc}."
            if s.required_for:
                words += f" Required for {s.required_for}."
            lines += _comment(words)
            if s.required_for:
                lines.append(f"{s.name}=")
            else:
                lines.append(f"#{s.name}={_text(s, s.default)}")
        for p in patterns:
            doc = p.doc[0].upper() + p.doc[1:]
            lines += _comment(
                f"{doc}; NAME is one of {', '.join(p.parts)}. Default: {p.default_doc}."
            )
            lines.append(f"#{p.name(p.parts[-1])}=")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown() -> str:
    total = len(SCHEMA)
    lines = [
        "# Configuration reference",
        "",
        f"Generated from the settings schema (`agent/base/settings`) by `{GENERATED_BY}"
        " --markdown` (`make config-docs`); do not edit by hand.",
        "",
        f"{total} environment variables, in {len(SECTIONS)} sections. A bad value stops"
        " start-up with exit code 2 and one line naming the variable and the value. An empty"
        " value means the default. `.env.example` holds the same list as a systemd"
        " `EnvironmentFile` (check one with `voice-agent check --env-file PATH`).",
    ]
    for section, title in SECTIONS.items():
        settings = SCHEMA.in_section(section)
        patterns = [p for p in SCHEMA.patterns.values() if p.section == section]
        categories = [c for c in SCHEMA.categories.values() if c.section == section]
        lines += ["", f"## {section}: {title}", ""]
        lines += ["| variable | kind | default | meaning |", "|---|---|---|---|"]
        for s in settings:
            meaning = s.doc
            if s.required_for:
                meaning += f" (required for {s.required_for})"
            if s.written:
                meaning += " (set by the agent: leave unset)"
            if s.old_names:
                meaning += f"; formerly {', '.join(f'`{o}`' for o in s.old_names)}"
            row = (f"`{s.name}`", s.kind.describe, _default_words(s), meaning)
            lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
        for p in patterns:
            name = p.template.replace("{NAME}", "<NAME>")
            meaning = f"{p.doc}; NAME is one of {', '.join(p.parts)}"
            row = (f"`{name}`", p.kind.describe, p.default_doc or "unset", meaning)
            lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
        for c in categories:
            row = (f"named by {c.named_by}", c.kind.describe, "unset", c.doc)
            lines.append("| " + " | ".join(_cell(x) for x in row) + " |")
    renames = [(old, s.name) for old, s in SCHEMA.old_names.items()]
    if renames:
        lines += ["", "## Renamed variables", ""]
        lines.append("The old names still work, with a WARNING in the log naming the new one.")
        lines += ["", "| old name | new name |", "|---|---|"]
        lines += [f"| `{old}` | `{new}` |" for old, new in renames]
    return "\n".join(lines) + "\n"
