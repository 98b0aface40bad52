"""Protocol and policy modules stay pure: importing them loads no I/O library."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PURE_MODULES = [
    "dsp",
    "agent.providers.tts.cartesia_contexts",
    "tests.fakes.cartesia_checks",
    "agent.providers.stt.deepgram_batch",
    "agent.wire.audiosocket",
    "agent.observe.callreport",
    "agent.dialogue.chunking",
    "agent.business.company",
    "agent.base.config",
    "agent.base.settings",
    "agent.base.errors",
    "agent.base.events",
    "agent.dialogue.history",
    "agent.wire.jsonstream",
    "agent.dialogue.prompt",
    "agent.dialogue.replies",
    "agent.dialogue.saytext",
    "agent.dialogue.slots",
    "agent.wire.sse",
    "agent.dialogue.tools",
    "agent.dialogue.turntaking",
    "agent.dialogue.workflow",
    "agent.dialogue.workflow_actions",
    "agent.dialogue.workflow_build",
    "agent.providers.tts.cartesia_wire",
    "agent.providers.stt.deepgram_wire",
    "agent.providers.stt.deepgram_settings",
    "agent.providers.tts.elevenlabs_wire",
    "agent.providers.llm.openai_wire",
    "agent.providers.llm.openai_settings",
    "tests.fakes.tone_text",
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
