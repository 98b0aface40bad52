"""Service wiring: what `serve --brain conversation` prepares before the first call."""

from __future__ import annotations

from agent.service.wiring import build_conversation


def test_the_offline_speech_model_is_warmed_up_by_the_service(tmp_path):
    db = str(tmp_path / "agent.db")
    offline = build_conversation({"VOICE_AGENT_DB": db})
    assert offline.names[0] == "whisper"
    assert offline.warm_up is not None and offline.warm_up.__name__ == "warm_up"
    cloud = build_conversation({"VOICE_AGENT_DB": db, "DEEPGRAM_API_KEY": "k"})
    assert cloud.names[0] == "deepgram" and cloud.warm_up is None
