"""Environment files read the way systemd reads an ``EnvironmentFile=`` (systemd.exec(5),
src/basic/env-file.c), and the shipped ``.env.example`` valid under those rules."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from agent.base.errors import ConfigError
from agent.base.settings import SCHEMA, Env, parse_env_text, read_env_file
from tests.paths import REPO

EXAMPLE = REPO / ".env.example"


# --- the rules, with systemd's own test files (src/test/test-env-file.c) ------------


def test_systemd_test_file_1_continuations_and_escapes():
    text = "a=a\nb=b\\\nc\nd=d\\\ne\\\nf\ng=g\\ \nh=h\ni=i\\"
    assert parse_env_text(text).values == {
        "a": "a", "b": "bc", "d": "def", "g": "g ", "h": "h", "i": "i",
    }  # fmt: skip


def test_systemd_test_file_2_a_trailing_backslash_at_the_end():
    assert parse_env_text("a=a\\\n").values == {"a": "a"}


def test_systemd_test_file_3_a_comment_ending_in_a_backslash_ends_at_the_line():
    """Since systemd 254 the line after such a comment is not part of it."""
    text = (
        '#SPAMD_ARGS="-d --socketpath=/var/lib/bulwark/spamd \\\n'
        "#--nouser-config                                     \\\n"
        "normal=line"
    )
    assert parse_env_text(text).values == {"normal": "line"}


def test_systemd_test_file_4_double_quotes_keep_inner_spaces():
    text = (
        '# Generated\n\nHWMON_MODULES="coretemp f71882fg"\n\n# For compatibility reasons\n\n'
        "MODULE_0=coretemp\nMODULE_1=f71882fg"
    )
    assert parse_env_text(text).values == {
        "HWMON_MODULES": "coretemp f71882fg", "MODULE_0": "coretemp", "MODULE_1": "f71882fg",
    }  # fmt: skip


def test_systemd_test_file_5_empty_values():
    assert parse_env_text("a=\nb=").values == {"a": "", "b": ""}


@pytest.mark.parametrize(
    ("line", "value"),
    [
        # The bug of issue 15: an inline comment is part of the value under systemd.
        ("KEY=   # required for Deepgram", "# required for Deepgram"),
        ("KEY=abc # note", "abc # note"),
        ("KEY=abc   ", "abc"),  # trailing blanks go
        ("KEY=  spaced  out  ", "spaced  out"),  # interior blanks stay
        ("KEY='single # kept' ", "single # kept"),
        ('KEY="a \\"b\\" \\$c \\\\ \\x"', 'a "b" $c \\ \\x'),  # \x keeps its backslash
        ("KEY='a'b", "ab"),  # text after a closing quote is appended
        ("KEY='a' # note", "a# note"),
        ("  KEY = value", "value"),  # blanks around the key and after '=' go
        ("KEY=a=b", "a=b"),
        ("KEY='multi\nline'", "multi\nline"),
    ],
)
def test_values(line, value):
    assert parse_env_text(line + "\n").values == {"KEY": value}


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("export KEY=value", "'export KEY' is not a valid variable name"),
        ("1KEY=value", "'1KEY' is not a valid variable name"),
        ("JUST TEXT", "no '='"),
        ("KEY-NAME=x", "'KEY-NAME' is not a valid variable name"),
    ],
)
def test_what_systemd_ignores_is_listed(text, why):
    parsed = parse_env_text(text + "\n")
    assert parsed.values == {}
    assert len(parsed.ignored) == 1 and why in parsed.ignored[0]


def test_comments_only_at_the_start_of_a_line_and_the_last_assignment_wins():
    text = "# a comment\n   ; another\nA=1\n\tA=2\n"
    assert parse_env_text(text).values == {"A": "2"}


def test_unreadable_files_are_named(tmp_path):
    with pytest.raises(ConfigError, match=r"missing\.env.*cannot read"):
        read_env_file(tmp_path / "missing.env")
    binary = tmp_path / "binary.env"
    binary.write_bytes(b"A=\xff\xfe\n")
    with pytest.raises(ConfigError, match=r"binary\.env.*not UTF-8"):
        read_env_file(binary)


# --- .env.example -------------------------------------------------------------------


def test_the_example_is_a_valid_systemd_environment_file():
    text = EXAMPLE.read_text()
    parsed = read_env_file(EXAMPLE)
    assert parsed.ignored == ()
    for number, line in enumerate(text.splitlines(), 1):
        assert line == line.rstrip(), f"line {number}: trailing blanks"
        if line and not line.startswith("#"):
            # An assignment, on a line of its own, with no comment after it.
            assert re.fullmatch(r"[A-Z][A-Z0-9_]*=[^\s#'\"\\]*", line), f"line {number}: {line}"
    # Every active value (the keys to fill in are empty) is valid for its variable.
    assert parsed.values and all(SCHEMA.declares(name) for name in parsed.values)
    Env(parsed.values).validate()


def test_every_default_shown_in_the_example_parses_and_is_the_schemas():
    shown = {}
    for line in EXAMPLE.read_text().splitlines():
        if re.match(r"#[A-Z][A-Z0-9_]*=", line):
            shown.update(parse_env_text(line[1:]).values)
    for setting in SCHEMA:
        if setting.written:
            assert setting.name not in shown  # the agent sets these itself
            continue
        text = shown.get(setting.name, parse_env_text(EXAMPLE.read_text()).values.get(setting.name))
        assert text is not None, f"{setting.name} is missing from .env.example"
        if text:
            assert Env({setting.name: text}).get(setting.name) == setting.default
        else:  # empty: the default, whatever it is
            assert setting.default in (None, ()) or setting.default_doc or setting.required_for


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash here")
def test_a_shell_reads_the_example_as_systemd_does():
    """`set -a; . ./.env; set +a` (the README's way in a shell) gives the same values,
    the commented defaults made active included."""
    text = re.sub(r"(?m)^#([A-Z][A-Z0-9_]*=)", r"\1", EXAMPLE.read_text())
    script = 'set -a; eval "$EXAMPLE"; set +a; env -0'
    result = subprocess.run(
        ["bash", "-c", script], env={"EXAMPLE": text}, capture_output=True, check=True
    )
    shell = dict(item.split("=", 1) for item in result.stdout.decode().split("\0") if item)
    systemd = parse_env_text(text).values
    assert len(systemd) > 80
    assert {name: shell.get(name) for name in systemd} == systemd
