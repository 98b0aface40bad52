"""The settings schema: every environment variable declared once.

Each variable has a kind (``kinds``: int, float, bool, choice, list, path, URL,
port, secret...), a default, a unit, bounds and a one-line doc, in a section
(``catalog_service``, ``catalog_providers``). Everything in ``agent/`` reads the
environment through ``Env`` (``reader``), the one module that touches
``os.environ``; ``.env.example`` and ``docs/configuration.md`` are generated
from the schema (``render``; ``python -m agent.base.settings``), and
``envfile`` reads an env file the way systemd does.
"""

from agent.base.settings.catalog import SCHEMA, SECTIONS
from agent.base.settings.catalog_service import (
    BRAINS,
    FALLBACK_ACTIONS,
    LLM_NAMES,
    LLM_PRESET_NAMES,
    SAMPLE_RATES,
    STT_NAMES,
    TTS_NAMES,
)
from agent.base.settings.envfile import EnvFile, parse_env_text, read_env_file
from agent.base.settings.reader import Env, default_of, export, read_settings, setting
from agent.base.settings.schema import Category, Pattern, Schema, Setting

__all__ = [
    "BRAINS",
    "FALLBACK_ACTIONS",
    "LLM_NAMES",
    "LLM_PRESET_NAMES",
    "SAMPLE_RATES",
    "SCHEMA",
    "SECTIONS",
    "STT_NAMES",
    "TTS_NAMES",
    "Category",
    "Env",
    "EnvFile",
    "Pattern",
    "Schema",
    "Setting",
    "default_of",
    "export",
    "parse_env_text",
    "read_env_file",
    "read_settings",
    "setting",
]
