"""The settings schema is the only way to the environment, and the documentation is it.

(a) no module under ``agent/`` but the schema's reader touches ``os.environ``,
``os.getenv`` or an environment mapping handed to it (an AST scan);
(b) every variable name written in ``agent/`` is declared;
(c) the committed ``.env.example`` and ``docs/configuration.md`` are what the
schema generates.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from agent.base.settings import (
    FALLBACK_ACTIONS,
    LLM_PRESET_NAMES,
    SCHEMA,
    SECTIONS,
    Env,
    Setting,
)
from agent.base.settings.kinds import Float, Int
from agent.base.settings.render import env_example, markdown
from tests.paths import REPO

AGENT = REPO / "agent"
READER = AGENT / "base" / "settings" / "reader.py"  # the one module that touches os.environ
ENV_FUNCTIONS = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}
# Channel variables the dialplan and the AGI steps exchange: not the process environment.
DIALPLAN_VARIABLES = {"VOICE_AGENT_UUID", "VOICE_AGENT_STATUS", "VOICE_AGENT_ACTION",
                      "VOICE_AGENT_TARGET", "VOICE_AGENT_ADDR"}  # fmt: skip
ENV_LIKE = re.compile(r"(?:VOICE_AGENT|DEEPGRAM|LLM|CARTESIA|ELEVENLABS|GROQ|CEREBRAS|OPENAI"
                      r"|PROMETHEUS|HF)_[A-Z0-9_]*[A-Z0-9]")  # fmt: skip


def sources() -> list[Path]:
    return sorted(path for path in AGENT.rglob("*.py") if path != READER)


def _is_env_mapping(arg: ast.arg) -> bool:
    """A parameter standing for an environment: named like one, typed as a mapping."""
    annotation = ast.unparse(arg.annotation) if arg.annotation is not None else ""
    return "env" in arg.arg.lower() and ("Mapping" in annotation or "dict" in annotation)


class EnvReads(ast.NodeVisitor):
    """Finds reads of the environment outside the schema's reader."""

    def __init__(self) -> None:
        self.found: list[str] = []
        self._mappings: list[set[str]] = [set()]
        self._parents: dict[ast.AST, ast.AST] = {}

    def visit_Module(self, node: ast.Module) -> None:
        for parent in ast.walk(node):
            for child in ast.iter_child_nodes(parent):
                self._parents[child] = parent
        self.generic_visit(node)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        args = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
        self._mappings.append({a.arg for a in args if _is_env_mapping(a)})
        self.generic_visit(node)
        self._mappings.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = _function

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module == "os":
            for alias in node.names:
                if alias.name in ENV_FUNCTIONS:
                    self.found.append(f"line {node.lineno}: from os import {alias.name}")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        is_os = isinstance(node.value, ast.Name) and node.value.id == "os"
        if is_os and node.attr in ENV_FUNCTIONS:
            self.found.append(f"line {node.lineno}: os.{node.attr}")
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in self._mappings[-1] and isinstance(node.ctx, ast.Load):
            parent = self._parents.get(node)
            passed_on = isinstance(parent, ast.Call) and node in parent.args
            passed_on = passed_on or isinstance(parent, ast.keyword)
            compared = isinstance(parent, ast.Compare) and all(
                isinstance(op, (ast.Is, ast.IsNot)) for op in parent.ops
            )
            if not (passed_on or compared):
                self.found.append(f"line {node.lineno}: reads the mapping {node.id!r} directly")


def env_reads(path: Path) -> list[str]:
    finder = EnvReads()
    finder.visit(ast.parse(path.read_text(), str(path)))
    return finder.found


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(AGENT)))
def test_only_the_schema_reads_the_environment(path):
    assert env_reads(path) == []


@pytest.mark.parametrize(
    "code",
    [
        "import os\nx = os.environ.get('VOICE_AGENT_PORT')",
        "import os\nx = os.getenv('VOICE_AGENT_PORT')",
        "from os import environ",
        "def f(env: Mapping[str, str]):\n    return env.get('VOICE_AGENT_PORT')",
        "def f(env: Mapping[str, str] | None = None):\n    return env['X']",
        "def f(env: dict[str, str]):\n    return {**env, 'A': '1'}",
        "def f(env: Mapping[str, str]):\n    return 'A' in env",
        "def f(environment: Mapping[str, str]):\n    for name in environment: pass",
    ],
)
def test_the_scan_catches_each_way_of_reading(tmp_path, code):
    module = tmp_path / "m.py"
    module.write_text(code + "\n")
    assert env_reads(module), code


def test_the_scan_lets_a_mapping_be_passed_on(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        "def f(env: Mapping[str, str] | None = None):\n"
        "    reader = Env.of(env)\n"
        "    return g(env=env) if env is not None else reader\n"
    )
    assert env_reads(module) == []


def names_written(path: Path) -> set[str]:
    """Every variable-like name in a string of the module (``__all__`` aside: it
    lists Python names such as LLM_NAMES)."""
    tree = ast.parse(path.read_text())
    exports = {
        id(node)
        for statement in tree.body
        if isinstance(statement, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "__all__" for t in statement.targets)
        for node in ast.walk(statement)
    }
    found = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in exports
        ):
            found.update(ENV_LIKE.findall(node.value))
    return found


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(AGENT)))
def test_every_variable_named_in_the_code_is_declared(path):
    undeclared = {
        name
        for name in names_written(path) - DIALPLAN_VARIABLES
        if not SCHEMA.declares(name)
        and not any(
            p.shape().fullmatch(name) or name == p.template.partition("{NAME}")[0].rstrip("_")
            for p in SCHEMA.patterns.values()
        )
    }
    assert undeclared == set()


def test_an_undeclared_name_cannot_be_read():
    with pytest.raises(LookupError, match="not declared"):
        Env({"VOICE_AGENT_SOMETHING": "1"}).get("VOICE_AGENT_SOMETHING")


def test_the_generated_files_are_committed_as_generated():
    """Run `make config-docs` after changing the schema."""
    assert (REPO / ".env.example").read_text() == env_example()
    assert (REPO / "docs" / "configuration.md").read_text() == markdown()


def test_every_setting_is_documented_with_a_section_and_a_one_line_doc():
    reference = (REPO / "docs" / "configuration.md").read_text()
    for setting in SCHEMA:
        assert setting.section in SECTIONS
        assert setting.doc and "\n" not in setting.doc and len(setting.doc) < 120
        assert f"`{setting.name}`" in reference
        for old in setting.old_names:
            assert f"| `{old}` | `{setting.name}` |" in reference


def test_numbers_are_bounded_and_durations_say_their_unit():
    for setting in SCHEMA:
        if isinstance(setting.kind, (Int, Float)):
            assert setting.kind.hi < 1e9, setting.name  # no "any number" setting
        if setting.unit in ("s", "ms"):
            assert setting.name.endswith(f"_{setting.unit.upper()}"), setting.name


def test_the_schema_agrees_with_the_code_that_acts_on_it():
    from agent.pbx.callmeta import ACTIONS
    from agent.providers.llm.openai_settings import PRESETS

    assert tuple(PRESETS) == LLM_PRESET_NAMES
    assert set(FALLBACK_ACTIONS) == set(ACTIONS)
    for preset in PRESETS.values():
        assert preset.api_key_env is None or SCHEMA[preset.api_key_env].kind.describe == "secret"


def test_the_schema_refuses_contradictions():
    from agent.base.settings import Schema
    from agent.base.settings.kinds import Text

    one = Setting("A_S", Float(0, 10), 1.0, "a", "server")
    with pytest.raises(ValueError, match="declared twice"):
        Schema(SECTIONS, [one, one])
    with pytest.raises(ValueError, match="finite bounds"):
        Schema(SECTIONS, [Setting("B", Float(0, float("inf")), 1.0, "b", "server")])
    with pytest.raises(ValueError, match="must be 0 to 10"):
        Schema(SECTIONS, [Setting("C", Float(0, 10), 11.0, "c", "server")])
    with pytest.raises(ValueError, match="unknown section"):
        Schema(SECTIONS, [Setting("D", Text(), "", "d", "nowhere")])
