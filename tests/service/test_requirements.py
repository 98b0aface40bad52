"""requirements/service.txt pins every core dependency, and the build's, by hash."""

from __future__ import annotations

import re
import tomllib

from tests.paths import REPO

ROOT = REPO
PINS = ROOT / "requirements" / "service.txt"


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def pinned() -> dict[str, list[str]]:
    """name -> hashes, from the pip-compile output (continuation lines joined)."""
    text = PINS.read_text().replace("\\\n", " ")
    out = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement, *options = line.split("--hash=")
        assert "==" in requirement, f"not pinned: {line}"
        out[_name(requirement)] = [h.strip() for h in options]
    return out


def test_every_core_and_build_dependency_is_pinned_with_hashes():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    needed = {_name(r) for r in project["project"]["dependencies"]}
    needed |= {_name(r) for r in project["build-system"]["requires"]}
    pins = pinned()
    assert needed <= set(pins), f"not in service.txt: {sorted(needed - set(pins))}"
    for name, hashes in pins.items():
        assert hashes and all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), name


def test_the_unit_runs_what_the_pinned_install_makes():
    unit = (ROOT / "asterisk" / "voice-agent.service").read_text()
    assert "ExecStart=/opt/voice-agent/.venv/bin/voice-agent serve --brain conversation\n" in unit
    assert "--require-hashes -r /opt/voice-agent/requirements/service.txt" in unit
