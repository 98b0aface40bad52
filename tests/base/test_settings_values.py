"""Every variable of the schema walked with bad values made for its kind: each is a
``ConfigError`` naming the variable and the value (a secret's value never shown),
and ``voice-agent serve`` stops with exit code 2 and one line. Renamed variables
still work, with a WARNING naming the old and the new name."""

from __future__ import annotations

import logging

import pytest

from agent.base.errors import ConfigError
from agent.base.settings import SCHEMA, Env, read_settings, reader, setting
from agent.base.settings.kinds import (
    Bool,
    Choice,
    EnvName,
    FilePath,
    Float,
    Host,
    Int,
    Port,
    Secret,
    Text,
    Url,
    Words,
)
from agent.cli.main import main
from agent.service import serve as service_module


def bad_values(kind) -> list[str]:
    """Values the kind must refuse (as an environment variable's text)."""
    control = ["ab\x00c", "ab\x07c", "x" * 3000]
    if isinstance(kind, Int):
        out = ["abc", "1.5", "1e3", "0x10", "1_000", "inf", "nan", "١٢", str(kind.hi + 1)]
        out += [str(kind.lo - 1), "99999999999999999999999"]
        if kind.choices:
            out.append(str(next(n for n in range(kind.lo, kind.hi) if n not in kind.choices)))
        return out
    if isinstance(kind, Port):
        return ["-1", "65536", "99999", "http", "80.5", *([] if kind.zero else ["0"])]
    if isinstance(kind, Float):
        out = ["abc", "inf", "-inf", "nan", "NaN", "1e309", "1,5", "0x1p3", "--1"]
        return [*out, repr(kind.hi * 10 + 1), repr(kind.lo - 1)]
    if isinstance(kind, Bool):
        return ["2", "-1", "maybe", "truee", "yes please", "0.0"]
    if isinstance(kind, Choice):
        return ["nope", kind.choices[0] + "x", ",".join(kind.choices), "0"]
    if isinstance(kind, Words):
        if kind.choices:
            return ["nope", f"{kind.choices[0]},nope", ",", "a b"]
        return ["ok,ab\x00c", "x" * 3000] + (["word:loud", ":2"] if kind.item.pattern else [])
    if isinstance(kind, Secret):
        return ["abc def", "# required for Deepgram", "'quoted'", "key\x07", "x" * 3000]
    if isinstance(kind, EnvName):
        return ["1ABC", "A-B", "A B", "$X"]
    if isinstance(kind, Host):
        return ["host name", "a/b", "x" * 300, "a;b"]
    if isinstance(kind, Url):
        out = ["not a url", "ftp://x", f"{kind.schemes[0]}://", f"{kind.schemes[0]}://h:99999"]
        return [*out, *control]
    if isinstance(kind, FilePath):
        return control
    if isinstance(kind, Text):  # with a pattern: a comment, spaces or a stray quote
        if not kind.pattern:
            return control
        return control + [v for v in ("# a comment", "two  words", "'x'") if _refused(kind, v)]
    raise AssertionError(f"no bad values for {kind!r}: teach this test the new kind")


def _refused(kind, text: str) -> bool:
    try:
        kind.parse(text)
    except ValueError:
        return True
    return False


def every_variable():
    for s in SCHEMA:
        yield s.name, s.kind
    for pattern in SCHEMA.patterns.values():
        for name in pattern.names():
            yield name, pattern.kind


CASES = [
    pytest.param(name, kind, bad, id=f"{name}={bad[:20]!r}")
    for name, kind in every_variable()
    for bad in bad_values(kind)
]


def read(name: str, env: dict[str, str]):
    found = SCHEMA.pattern_of(name)
    if found is None:
        return Env(env).get(name)
    part = found.shape().fullmatch(name).group(1)
    return Env(env).pattern(found.template, part)


@pytest.mark.parametrize(("name", "kind", "bad"), CASES)
def test_every_bad_value_is_refused_naming_the_variable(name, kind, bad):
    with pytest.raises(ConfigError) as caught:
        read(name, {name: bad})
    message = str(caught.value)
    assert message.startswith(f"{name}="), message
    assert "\n" not in message and len(message) < 400
    if isinstance(kind, Secret):
        assert "[hidden]" in message and bad[:5] not in message
    else:
        assert repr(bad[:20])[:-1] in message  # the value as given, quoted
    problems = Env({name: bad}).problems()
    assert [str(p) for p in problems] == [message]


def test_the_walk_covers_every_variable_with_several_bad_values():
    per_variable: dict[str, int] = {}
    for case in CASES:
        per_variable[case.values[0]] = per_variable.get(case.values[0], 0) + 1
    expected = {name for name, _ in every_variable()}
    assert set(per_variable) == expected and min(per_variable.values()) >= 2


@pytest.fixture
def no_serving(monkeypatch, tmp_path):
    """``serve`` must stop before it serves: reaching Service.run fails the test."""

    async def serving(self, **kwargs):
        raise AssertionError("serve started despite a bad setting")

    monkeypatch.setattr(service_module.Service, "run", serving)
    monkeypatch.chdir(tmp_path)
    for name in list(Env().snapshot()):
        if SCHEMA.declares(name):
            monkeypatch.delenv(name)


FIRST_BAD = [  # a real environment cannot hold a NUL
    pytest.param(name, next(v for v in bad_values(kind) if "\x00" not in v), id=name)
    for name, kind in every_variable()
    if not isinstance(kind, Secret)
]


@pytest.mark.parametrize(("name", "bad"), FIRST_BAD)
def test_serve_stops_with_exit_2_and_one_line_for_every_variable(
    name, bad, monkeypatch, capsys, no_serving
):
    monkeypatch.setenv(name, bad)
    assert main(["serve", "--brain", "echo"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"voice-agent: {name}=") and err.count("\n") == 1, err
    assert "Traceback" not in err


def test_a_bad_secret_stops_serve_without_showing_it(monkeypatch, capsys, no_serving):
    monkeypatch.setenv("DEEPGRAM_API_KEY", "dg-secret   # required for Deepgram")
    assert main(["serve", "--brain", "echo"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("voice-agent: DEEPGRAM_API_KEY=[hidden]: contains a space")
    assert "dg-secret" not in err


# --- renamed variables ----------------------------------------------------------------


@pytest.fixture
def fresh_warnings(monkeypatch):
    monkeypatch.setattr(reader, "_warned", set())


@pytest.mark.parametrize(("old", "new"), [(o, s.name) for o, s in SCHEMA.old_names.items()])
def test_an_old_name_still_works_with_one_warning(old, new, caplog, fresh_warnings):
    caplog.set_level(logging.WARNING, logger="agent.base.settings")
    env = Env({old: "4.5"})
    assert env.get(new) == 4.5 and env.get(new) == 4.5
    assert [r.getMessage() for r in caplog.records] == [
        f"{old} is deprecated: rename it {new} (the old name still works for now)"
    ]
    assert env.deprecated() == [(old, new)]
    with pytest.raises(ConfigError, match=f"^{old}='soon': expected a number"):
        Env({old: "soon"}).get(new)  # a bad value names the spelling that was used


def test_the_new_name_wins_and_the_old_is_said_to_be_ignored(caplog, fresh_warnings):
    caplog.set_level(logging.WARNING, logger="agent.base.settings")
    assert Env({"LLM_TIMEOUT": "4", "LLM_TIMEOUT_S": "6"}).get("LLM_TIMEOUT_S") == 6.0
    assert caplog.messages == ["LLM_TIMEOUT is deprecated and ignored: LLM_TIMEOUT_S is set"]


def test_the_llm_settings_read_the_old_names():
    from agent.providers.llm.openai_settings import LlmSettings

    settings = LlmSettings.from_env({"GROQ_API_KEY": "k", "LLM_TIMEOUT": "4.5",
                                     "LLM_CONNECT_TIMEOUT": "1.5"})  # fmt: skip
    assert (settings.timeout_s, settings.connect_timeout_s) == (4.5, 1.5)


# --- the reader -----------------------------------------------------------------------


def test_empty_means_the_default_and_values_are_stripped():
    env = Env({"VOICE_AGENT_PORT": "", "VOICE_AGENT_HOST": " 0.0.0.0 ", "LLM_PROVIDER": "Groq"})
    assert env.get("VOICE_AGENT_PORT") == 9099 and not env.is_set("VOICE_AGENT_PORT")
    assert env.given("VOICE_AGENT_PORT")
    assert env.get("VOICE_AGENT_HOST") == "0.0.0.0" and env.get("LLM_PROVIDER") == "groq"
    assert Env({"VOICE_AGENT_TTS_FALLBACK": " "}).get("VOICE_AGENT_TTS_FALLBACK") is None


def test_unknown_variables_are_listed_with_a_hint():
    env = Env({"VOICE_AGENT_TTS_FALLBAK": "none", "DEEPGRAM_KEY": "x", "HOME": "/root",
               "BRIGHTSPARK_BOOKING_KEY": "k", "LLM_FALLBACK_GROQ_MODEL": "m"})  # fmt: skip
    assert env.unknown() == [
        "DEEPGRAM_KEY is not a setting (did you mean DEEPGRAM_API_KEY?)",
        "VOICE_AGENT_TTS_FALLBAK is not a setting (did you mean VOICE_AGENT_TTS_FALLBACK?)",
    ]


def test_secrets_for_the_log_redaction():
    env = Env({"GROQ_API_KEY": "gsk", "BRIGHTSPARK_BOOKING_KEY": "bk", "VOICE_AGENT_PORT": "1"})
    assert sorted(env.secret_values()) == ["bk", "gsk"]


def test_a_settings_field_holds_code_made_values_to_the_same_rule():
    import attrs

    @attrs.frozen
    class Example:
        port: int = setting("VOICE_AGENT_PORT")
        rate: int = setting("VOICE_AGENT_SAMPLE_RATE")

    assert Example() == Example(9099, 8000)
    assert read_settings(Example, {"VOICE_AGENT_PORT": "7"}, rate=16000) == Example(7, 16000)
    with pytest.raises(ConfigError, match=r"^VOICE_AGENT_SAMPLE_RATE=16001: expected one of"):
        Example(rate=16001)
