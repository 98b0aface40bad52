"""Protocol and policy modules stay pure: importing them loads no I/O library."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
import tomllib

import pytest

from tests.paths import REPO

# The pure rooms are named once, in the import-linter contract that keeps I/O out of
# them (pyproject.toml); this test imports each of their modules for real, plus the
# pure modules that live in rooms that also do I/O.
_CONTRACTS = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
_PURE_ROOMS = next(c for c in _CONTRACTS["contracts"] if c["id"] == "pure")["source_modules"]


def _expand(name: str) -> list[str]:
    module = importlib.import_module(name)
    if not hasattr(module, "__path__"):
        return [name]
    return [name] + [m.name for m in pkgutil.walk_packages(module.__path__, name + ".")]


PURE_MODULES = sorted(
    {m for room in _PURE_ROOMS for m in _expand(room)}
    | {
        "agent",
        "agent.business.company",
        "agent.business.ukformats",
        "agent.observe.callreport",
        "tests.fakes.cartesia_checks",
        "tests.fakes.openai_wire",
        "tests.fakes.tone_text",
    }
)
IO_LIBRARIES = ["trio", "httpx", "trio_websocket", "h11", "anyio"]


@pytest.mark.parametrize("module", PURE_MODULES)
def test_module_imports_no_io_library(module):
    code = (
        f"import importlib, json, sys; importlib.import_module({module!r}); "
        f"print(json.dumps([m for m in {IO_LIBRARIES!r} if m in sys.modules]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(result.stdout) == [], f"{module} pulled in I/O libraries"
