"""The curated public namespace: what an embedding program imports from ``agent``."""

from __future__ import annotations

import json
import subprocess
import sys

import agent


def test_every_public_name_resolves_to_the_object_of_its_room():
    from agent.media.call import Call
    from agent.providers.protocols import SpeechToText

    for name in agent.__all__:
        assert getattr(agent, name) is not None, name
    assert agent.Call is Call
    assert agent.SpeechToText is SpeechToText
    assert sorted(dir(agent)) == sorted(agent.__all__)


def test_an_unknown_name_is_an_attribute_error():
    try:
        agent.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("agent.NoSuchThing resolved")


def test_importing_the_package_loads_no_io_library_until_a_name_is_used():
    code = (
        "import json, sys, agent; before = 'trio' in sys.modules; agent.Service; "
        "print(json.dumps([before, 'trio' in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [False, True]
