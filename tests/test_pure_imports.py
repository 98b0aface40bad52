"""Protocol and policy modules stay pure: importing them loads no I/O library."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PURE_MODULES = [
    "dsp",
    "agent.providers.cartesia_contexts",
    "agent.testing.cartesia_checks",
    "agent.providers.deepgram_batch",
    "agent.audiosocket",
    "agent.callreport",
    "agent.chunking",
    "agent.company",
    "agent.config",
    "agent.errors",
    "agent.events",
    "agent.history",
    "agent.jsonstream",
    "agent.prompt",
    "agent.replies",
    "agent.saytext",
    "agent.slots",
    "agent.sse",
    "agent.tools",
    "agent.turntaking",
    "agent.workflow",
    "agent.workflow_actions",
    "agent.workflow_build",
    "agent.providers.cartesia_wire",
    "agent.providers.deepgram_wire",
    "agent.providers.elevenlabs_wire",
    "agent.providers.openai_wire",
    "agent.testing.tone_text",
]
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
