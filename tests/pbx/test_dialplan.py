"""asterisk/extensions.conf and modules.conf, read with a small dialplan parser."""

from __future__ import annotations

import re

import attrs
import pytest

from agent.base.config import ServerSettings
from agent.pbx.callmeta import ACTIONS
from agent.pbx.fastagi import SCRIPTS, AgiSettings
from tests.paths import REPO

ASTERISK = REPO / "asterisk"


@attrs.frozen
class Step:
    priority: int
    label: str | None
    app: str
    args: tuple[str, ...]
    line: int


Dialplan = dict[str, dict[str, list[Step]]]
_PRIORITY = re.compile(r"(\d+|n)(?:\(([A-Za-z0-9_-]+)\))?")


def strip_comment(line: str) -> str:
    return re.split(r"(?<!\\);", line, maxsplit=1)[0].strip()


def split_args(text: str) -> tuple[str, ...]:
    """Split on commas outside (), [] and ${}."""
    out, depth, current = [], 0, ""
    for char in text:
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        if char == "," and depth == 0:
            out.append(current)
            current = ""
        else:
            current += char
    out.append(current)
    return tuple(part.strip() for part in out)


def parse_dialplan(text: str) -> Dialplan:
    plan: Dialplan = {}
    context = exten = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = strip_comment(raw)
        if not line:
            continue
        if match := re.fullmatch(r"\[([^\]]+)\](\(.*\))?", line):
            context = match.group(1)
            plan.setdefault(context, {})
            continue
        key, arrow, rest = line.partition("=>")
        key = key.strip()
        if not arrow or context is None:
            raise ValueError(f"line {number}: not a dialplan line: {raw!r}")
        if key == "include":
            continue
        if key == "exten":
            exten, _, rest = rest.strip().partition(",")
        elif key != "same" or exten is None:
            raise ValueError(f"line {number}: unexpected {key!r}")
        priority_text, _, application = rest.strip().partition(",")
        match = _PRIORITY.fullmatch(priority_text.strip())
        if match is None:
            raise ValueError(f"line {number}: bad priority {priority_text!r}")
        steps = plan[context].setdefault(exten, [])
        if match.group(1) == "n":
            if not steps:
                raise ValueError(f"line {number}: 'n' with no earlier priority")
            priority = steps[-1].priority + 1
        else:
            priority = int(match.group(1))
        app, _, args = application.strip().partition("(")
        if not args.endswith(")"):
            raise ValueError(f"line {number}: application without (...): {application!r}")
        steps.append(Step(priority, match.group(2), app, split_args(args[:-1]), number))
    return plan


def goto_targets(step: Step) -> list[tuple[str, ...]]:
    if step.app == "Goto":
        return [step.args]
    if step.app == "GotoIf":
        _, _, branches = ",".join(step.args).partition("?")
        return [split_args(b) for b in branches.split(":") if b]
    return []


def broken_gotos(plan: Dialplan) -> list[str]:
    problems = []
    for context, extensions in plan.items():
        for exten, steps in extensions.items():
            for step in steps:
                for target in goto_targets(step):
                    if any("${" in part for part in target):
                        continue  # computed at run time
                    *where, priority = target
                    ctx, ext = {0: (context, exten), 1: (context, *where), 2: tuple(where)}[
                        len(where)
                    ]
                    found = plan.get(ctx, {}).get(ext, [])
                    if not any(priority in (str(s.priority), s.label) for s in found):
                        problems.append(f"line {step.line}: {step.app} to {target} goes nowhere")
    return problems


@pytest.fixture(scope="module")
def plan() -> Dialplan:
    return parse_dialplan((ASTERISK / "extensions.conf").read_text())


def test_parser_numbers_priorities_and_labels():
    text = """
[demo] ; comment
exten => _X.,1,Answer()
 same => n(top),Set(A=1\\;2)
 same => n,GotoIf($["${A}" = "1"]?top:other,s,1)
exten => h,1,Hangup()
[other]
exten => s,1,NoOp(x,y)
"""
    plan = parse_dialplan(text)
    steps = plan["demo"]["_X."]
    assert [(s.priority, s.label, s.app) for s in steps] == [
        (1, None, "Answer"),
        (2, "top", "Set"),
        (3, None, "GotoIf"),
    ]
    assert steps[1].args == ("A=1\\;2",)
    assert goto_targets(steps[2]) == [("top",), ("other", "s", "1")]
    assert plan["other"]["s"][0].args == ("x", "y")
    assert broken_gotos(plan) == []
    bad = parse_dialplan(text.replace("other,s,1", "other,s,2").replace("?top", "?tpo"))
    assert len(broken_gotos(bad)) == 2


@pytest.mark.parametrize("line", ["exten => s,x,NoOp()", " same => n,NoOp()", "exten => s,1,NoOp"])
def test_parser_rejects_bad_lines(line):
    with pytest.raises(ValueError):
        parse_dialplan(f"[c]\n{line}\n")


def test_every_goto_target_exists(plan):
    assert broken_gotos(plan) == []


def apps(steps: list[Step]) -> list[str]:
    return [s.app for s in steps]


@pytest.mark.parametrize("context", ["voice-agent-inbound", "voice-agent-inbound-dial"])
def test_inbound_answers_runs_setup_and_falls_back_before_the_agent(plan, context):
    steps = plan[context]["_X."]
    names = apps(steps)
    agi_url = f"agi://127.0.0.1:{AgiSettings().port}/setup"
    setup = next(i for i, s in enumerate(steps) if s.app == "AGI" and s.args == (agi_url,))
    media = next(i for i, s in enumerate(steps) if s.app in ("AudioSocket", "Dial"))
    assert names.index("Answer") < setup < media
    checks = " ".join(",".join(s.args) for s in steps[setup:media] if s.app == "GotoIf")
    assert '"${AGISTATUS}" != "SUCCESS"' in checks
    assert '"${VOICE_AGENT_STATUS}" != "ok"' in checks
    assert "voice-agent-fallback,s,1" in checks
    assert steps[media + 1].app == "Goto" and steps[media + 1].args == (
        "voice-agent-after",
        "s",
        "1",
    )
    assert "h" in plan[context]


def test_audiosocket_app_and_dial_variant(plan):
    (app,) = [s for s in plan["voice-agent-inbound"]["_X."] if s.app == "AudioSocket"]
    assert app.args == ("${VOICE_AGENT_UUID}", "${VOICE_AGENT_ADDR}")
    (dial,) = [s for s in plan["voice-agent-inbound-dial"]["_X."] if s.app == "Dial"]
    assert dial.args[0] == "AudioSocket/${VOICE_AGENT_ADDR}/${VOICE_AGENT_UUID}/c(slin)"
    assert "g" in dial.args[2]  # the dialplan goes on after the agent hangs up


@pytest.mark.parametrize("context", ["voice-agent-inbound", "voice-agent-inbound-dial"])
def test_the_agent_address_is_setups_or_the_local_default(plan, context):
    """Several hosts: setup's VOICE_AGENT_ADDR; one host (unset): 127.0.0.1:VOICE_AGENT_PORT."""
    steps = plan[context]["_X."]
    sets = [
        i
        for i, s in enumerate(steps)
        if s.app == "Set" and s.args[0].startswith("VOICE_AGENT_ADDR")
    ]
    setup = next(i for i, s in enumerate(steps) if s.app == "AGI")
    media = next(i for i, s in enumerate(steps) if s.app in ("AudioSocket", "Dial"))
    reset, default = sets
    assert reset < setup and steps[reset].args == ("VOICE_AGENT_ADDR=",)
    assert steps[default].args == (f"VOICE_AGENT_ADDR=127.0.0.1:{ServerSettings().port}",)
    skip = steps[default - 1]
    assert skip.app == "GotoIf" and skip.args == ('$["${VOICE_AGENT_ADDR}" != ""]?connect',)
    assert steps[media].label == "connect" and setup < default < media


def test_after_step_asks_next_and_acts_on_every_action(plan):
    steps = plan["voice-agent-after"]["s"]
    assert steps[0].app == "AGI"
    assert steps[0].args == (f"agi://127.0.0.1:{AgiSettings().port}/next", "${VOICE_AGENT_UUID}")
    assert {"setup", "next"} <= set(SCRIPTS)
    labels = {s.label: s for s in steps if s.label}
    assert set(ACTIONS) <= set(labels)
    assert (
        labels["transfer"].app == "Dial" and labels["transfer"].args[0] == "${VOICE_AGENT_TARGET}"
    )
    assert labels["voicemail"].app == "VoiceMail"
    assert labels["hangup"].app == "Hangup"
    fallback = plan["voice-agent-fallback"]["s"]
    assert "VoiceMail" in apps(fallback) or "Queue" in apps(fallback)


def test_modules_conf_loads_what_the_dialplan_uses():
    text = (ASTERISK / "modules.conf").read_text()
    loads = {
        strip_comment(line).partition("=")[2].strip()
        for line in text.splitlines()
        if strip_comment(line).startswith("load")
    }
    needed = {
        "res_audiosocket.so",
        "app_audiosocket.so",
        "chan_audiosocket.so",
        "res_speech.so",  # res_agi will not load without it (a real Asterisk showed it)
        "res_agi.so",
        "func_uuid.so",
        "codec_resample.so",
        "app_dial.so",
        "bridge_simple.so",  # Dial() cannot connect a transfer without a bridge technology
        "app_voicemail.so",
    }
    assert needed <= loads
