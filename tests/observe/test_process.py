"""A whole observed call in virtual time: the rows and timings it leaves in the
records, the metrics a scrape shows after it, and logs that carry its UUID and
none of the caller's personal details."""

from __future__ import annotations

import io
import json
import logging

import pytest
import trio

from agent.base.events import ToolCall, Transcript, Usage
from agent.base.logs import NAME, configure_logging, redact
from agent.demo.signals import speechlike
from agent.dialogue.tools import ToolResult
from agent.observe.metrics import serve_metrics
from tests.conversation.call_rig import QUOTE, TUESDAY_10, FakeTools
from tests.fakes.inmem import LlmReply
from tests.observe.rig import CALLER_ID, DID, PRICES, observability, observed_call
from tests.observe.test_metrics import http, samples, value

QUOTE_CALL = ToolCall("c1", "get_quote", '{"service_id": "leak_repair"}')
END_CALL = ToolCall("c2", "end_call", '{"reason": "done"}')
LONG = "one two three four five six seven eight nine ten eleven twelve thirteen."


async def barge_in_call(obs):
    """Greeting; a reply with a quote that the caller cuts short; a goodbye."""
    replies = [
        LlmReply(("Sorry", " to hear", " that.", QUOTE_CALL, Usage(100, 10))),
        LlmReply((*LlmReply.say("A leak repair is £85. " + LONG).items, Usage(150, 30))),
        LlmReply(("Thanks", " for", " calling.", " Goodbye.", END_CALL)),
    ]
    script = ["my tap is leaking", "stop please"]
    async with observed_call(obs, script, replies) as rig:
        await rig.greeted()
        await rig.phone.say(speechlike(1.0))
        await rig.until(lambda: len(rig.llm.runs) == 2)
        reply = rig.brain._turn
        await rig.until(lambda: reply.utterance is not None and reply.utterance.first_frame_at)
        await trio.sleep(1.0)
        await rig.phone.say(speechlike(1.0))  # talks over "...one two three..."
        await rig.ended()
    await obs.flush()
    return rig


def is_final(event) -> bool:
    return isinstance(event, Transcript) and event.is_final


def voiced_runs(times: list[float]) -> list[tuple[float, float]]:
    """(first, last) frame times of each stretch of agent audio the phone heard."""
    runs: list[list[float]] = []
    for t in times:
        if runs and t - runs[-1][1] <= 0.021:
            runs[-1][1] = t
        else:
            runs.append([t, t])
    return [(a, b) for a, b in runs]


async def test_a_call_leaves_its_rows_and_timings(tmp_path, autojump_clock):
    obs = observability(tmp_path)
    rig = await barge_in_call(obs)
    store, call = obs.store, rig.call
    start = call.started_at
    greeting, reply, goodbye = turns = store.turns(rig.uuid)
    assert [t.index for t in turns] == [0, 1, 2]

    # What the phone heard is what the records say was sent, frame for frame.
    heard = voiced_runs(rig.phone.voiced_times())
    assert len(heard) == 3
    for turn, (first, last) in zip(turns, heard, strict=True):
        assert turn.first_agent_frame_at == pytest.approx(first - start, abs=1e-6)
        assert turn.last_agent_frame_at == pytest.approx(last - start, abs=1e-6)

    assert greeting.caller_text == "" and greeting.agent_text.endswith("How can I help you today?")
    assert greeting.llm_request_at is None and greeting.caller_speech_end_at is None
    assert greeting.tts_first_audio_at - greeting.tts_request_at == pytest.approx(0.06)

    assert reply.caller_text == "my tap is leaking"
    assert reply.interrupted and reply.agent_text.startswith("Sorry to hear that. A leak repair")
    assert "thirteen" not in reply.agent_text
    assert rig.phone.heard_text(heard[1][0], heard[1][1] + 0.02).startswith(reply.agent_text)
    # The fakes' latencies come back exactly in virtual time.
    assert reply.llm_first_token_at - reply.llm_request_at == pytest.approx(0.05)
    assert reply.tts_first_audio_at - reply.tts_request_at == pytest.approx(0.06)
    assert reply.caller_speech_end_at < reply.stt_final_at <= reply.llm_request_at
    assert reply.stt_final_at - reply.caller_speech_end_at < 0.4
    assert 0 <= reply.first_agent_frame_at - reply.tts_first_audio_at <= 0.02
    # The barge-in: caller onset over the agent -> the agent's last frame.
    assert reply.first_agent_frame_at < reply.barge_in_at < reply.last_agent_frame_at
    assert reply.last_agent_frame_at - reply.barge_in_at <= 0.25

    assert goodbye.caller_text == "stop please" and not goodbye.interrupted
    assert goodbye.agent_text == "Thanks for calling. Goodbye."
    assert goodbye.barge_in_at is None

    (quote, end) = store.tool_calls(rig.uuid)
    assert (quote.name, quote.arguments, quote.turn_index) == (
        "get_quote",
        {"service_id": "leak_repair"},
        1,
    )
    assert quote.result == {"status": "ok", **QUOTE.data} and quote.error is None
    assert quote.latency_s == 0.0 and reply.llm_first_token_at <= quote.at
    assert end.name == "end_call" and end.turn_index == 2

    record = store.get_call(rig.uuid)
    duration = call.ended_at - start
    assert (record.did, record.caller_id, record.company) == (DID, CALLER_ID, "thames-plumbing")
    assert record.started_at == TUESDAY_10
    assert record.ended_at == pytest.approx(TUESDAY_10 + duration)
    assert record.outcome == "quoted" and record.end_reason == "agent:model_end"
    assert (record.barge_ins, record.false_interruptions) == (1, 0)
    stt_s = call.ended_at - rig.brain.gate_opened_at
    # Text handed to the TTS, heard or not (a little may still sit in the channel
    # when a barge-in cancels the turn).
    tts_chars = sum(len(turn.sent_text) for turn in rig.brain.turns)
    assert tts_chars >= sum(len(s.text) for s in rig.tts.speaks)
    llm = 250 * PRICES.llm_input_per_token + 40 * PRICES.llm_output_per_token
    expected = {
        "stt": stt_s / 60 * PRICES.stt_per_minute,
        "llm": llm,
        "tts": tts_chars * PRICES.tts_per_character,
    }
    assert record.cost_detail == pytest.approx(expected)
    assert record.cost == pytest.approx(sum(expected.values()))
    assert record.cost_per_minute == pytest.approx(record.cost / (duration / 60))
    assert record.currency == "USD" and record.recording is None

    # A scrape after the call shows the histograms and counters.
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(serve_metrics, obs.metrics, "127.0.0.1", 0)
            port = listeners[0].socket.getsockname()[1]
            status, _, body = await http(port, b"GET /metrics HTTP/1.1\r\n\r\n")
            nursery.cancel_scope.cancel()
    assert status.endswith("200 OK")
    found = samples(body.decode())
    mouth_to_ear = [t.first_agent_frame_at - t.caller_speech_end_at for t in (reply, goodbye)]
    assert value(found, "voice_agent_mouth_to_ear_seconds_count") == 2
    assert value(found, "voice_agent_mouth_to_ear_seconds_sum") == pytest.approx(sum(mouth_to_ear))
    assert value(found, "voice_agent_mouth_to_ear_seconds_bucket", le="+Inf") == 2
    assert value(found, "voice_agent_llm_first_token_seconds_sum") == pytest.approx(0.1)
    assert value(found, "voice_agent_tts_first_audio_seconds_count") == 3  # the greeting too
    assert value(found, "voice_agent_stt_final_seconds_count") == 2
    assert value(found, "voice_agent_agent_added_seconds_count") == 2
    assert value(found, "voice_agent_barge_in_reaction_seconds_sum") == pytest.approx(
        reply.last_agent_frame_at - reply.barge_in_at
    )
    assert value(found, "voice_agent_calls_total", outcome="quoted", company="thames-plumbing") == 1
    assert value(found, "voice_agent_barge_ins_total") == 1
    assert value(found, "voice_agent_active_calls") == 0
    assert value(found, "voice_agent_call_duration_seconds_total") == pytest.approx(duration)
    assert value(found, "voice_agent_call_cost_sum") == pytest.approx(record.cost)
    assert value(found, "voice_agent_call_cost_count") == 1
    assert value(found, "voice_agent_cost_total", provider="scripted-llm") == pytest.approx(llm)
    assert value(found, "voice_agent_cost_total", provider="scripted-stt") == pytest.approx(
        expected["stt"]
    )
    obs.store.close()


async def test_false_interruption_is_counted_and_the_turn_not_cut(tmp_path, autojump_clock):
    obs = observability(tmp_path)
    text = "Alpha bravo charlie delta echo foxtrot golf hotel."
    async with observed_call(
        obs, ["hello there"], [LlmReply.say(text)], stt_kwargs={"min_speech_s": 0.6}
    ) as rig:
        await rig.greeted()
        await rig.phone.say(speechlike(0.8))
        await rig.until(lambda: rig.brain._turn is not None and rig.brain._turn.turn_id)
        turn = rig.brain._turn
        await rig.until(lambda: turn.utterance is not None and turn.utterance.first_frame_at)
        await trio.sleep(0.5)
        await rig.phone.say(speechlike(0.4))  # a cough: pause, no words, resume
        await rig.until(lambda: turn.done.is_set())
        await rig.phone.hang_up()
        await rig.ended()
    await obs.flush()
    reply = obs.store.turns(rig.uuid)[1]
    assert not reply.interrupted and reply.agent_text == text and reply.barge_in_at is None
    record = obs.store.get_call(rig.uuid)
    assert (record.barge_ins, record.false_interruptions) == (0, 1)
    assert (record.outcome, record.end_reason) == ("abandoned", "hangup")
    found = samples(obs.metrics.render().decode())
    assert value(found, "voice_agent_false_interruptions_total") == 1
    assert value(found, "voice_agent_barge_ins_total") == 0
    assert value(found, "voice_agent_barge_in_reaction_seconds_count") == 0
    obs.store.close()


async def test_provider_errors_are_counted_by_provider_and_kind(tmp_path, autojump_clock):
    from agent.base.errors import ProviderStatusError, ProviderTimeout

    obs = observability(tmp_path)
    replies = [
        LlmReply(error=ProviderStatusError("groq", "boom", status=503)),
        LlmReply(("Let me look.", QUOTE_CALL)),
        LlmReply((" Sorry.", END_CALL)),
    ]

    class FailingTools(FakeTools):
        async def run(self, call, now):
            self.calls.append(call)
            raise ProviderTimeout("booking-api", "no answer")

    tools = FailingTools({})
    async with observed_call(obs, ["hello", "any slots"], replies, tools=tools) as rig:
        await rig.greeted()
        await rig.phone.say(speechlike(0.8))
        await rig.until(lambda: len(rig.llm.runs) == 1 and rig.brain._turn is None)
        await rig.phone.say(speechlike(0.8))
        await rig.ended()
    await obs.flush()
    found = samples(obs.metrics.render().decode())
    assert (
        value(found, "voice_agent_provider_errors_total", provider="groq", kind="status_5xx") == 1
    )
    assert (
        value(found, "voice_agent_provider_errors_total", provider="booking-api", kind="timeout")
        == 1
    )
    tool = obs.store.tool_calls(rig.uuid)[0]
    assert tool.name == "get_quote" and "no answer" in tool.error
    assert tool.result["status"] == "failed"
    obs.store.close()


PERSONAL = [
    "Sarah",
    "Connor",
    "07700",
    "900 123",
    "900123",
    "7700900123",
    "SW1A",
    "1AA",
    "Acacia",
]


@pytest.fixture
def json_logs():
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    agent = logging.getLogger("agent")  # the demo quietens it for the whole process
    agent_level = agent.level
    agent.setLevel(logging.NOTSET)
    handler = configure_logging("json", stream=stream, env={"GROQ_API_KEY": "gsk_live_0123abcdef"})
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)
    agent.setLevel(agent_level)


async def test_logs_carry_the_uuid_and_none_of_the_callers_details(
    tmp_path, autojump_clock, json_logs
):
    obs = observability(tmp_path)
    book = ToolCall(
        "b1",
        "book_appointment",
        json.dumps(
            {
                "service_id": "leak_repair",
                "slot_start": "2025-05-14T09:00:00+01:00",
                "slot_end": "2025-05-14T11:00:00+01:00",
                "name": "Sarah Connor",
                "phone": "07700 900 123",
                "address": "12 Acacia Avenue",
                "postcode": "SW1A 1AA",
            }
        ),
    )
    replies = [
        LlmReply.say("Thanks Sarah. What is your number?"),
        LlmReply.say("Got it, 07700 900 123. And the postcode?"),
        LlmReply(("Booking", " that", " now.", book)),
        LlmReply.say("Booked for Sarah Connor at SW1A 1AA. Goodbye."),
    ]
    booked = ToolResult("book_appointment", "ok", {"booking_id": "bk-1"})
    tools = FakeTools({"book_appointment": booked})
    script = [
        "my name is Sarah Connor",
        "it's 07700 900 123",
        "SW1A 1AA, 12 Acacia Avenue",
    ]
    async with observed_call(obs, script, replies, tools=tools) as rig:
        await rig.greeted()
        for n in range(3):
            await rig.phone.say(speechlike(1.0))
            if n == 0:
                # Hidden the moment the STT gives the words, before any line could show them.
                await rig.until(lambda: any(is_final(event) for _, event in rig.stt.sent))
                assert redact("Sarah Connor said") == f"{NAME} said"
            await rig.until(lambda n=n: len(rig.llm.runs) >= n + 1 and rig.brain._turn is None)
        await rig.phone.hang_up()
        await rig.ended()
    await obs.flush()
    text = json_logs.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    for secret in PERSONAL:
        assert secret.lower() not in text.lower(), secret
    # The lines that would have shown them are there, with holes.
    assert "[NAME]" in text and "[PHONE]" in text and "[POSTCODE]" in text
    assert any(
        line["logger"] == "agent.observe.call_observer" and "book_appointment" in line["msg"]
        for line in lines
    )
    first = next(i for i, line in enumerate(lines) if line["msg"].startswith("call started"))
    call_lines = lines[first:]  # (before: the store's migrations at start-up)
    assert len(call_lines) > 8
    assert {line["call"] for line in call_lines} == {rig.uuid}
    # The records keep what was said.
    turns = obs.store.turns(rig.uuid)
    assert turns[1].caller_text == "my name is Sarah Connor"
    assert obs.store.tool_calls(rig.uuid)[0].arguments["postcode"] == "SW1A 1AA"
    obs.store.close()


async def test_any_brain_with_the_dialplans_metadata(tmp_path, autojump_clock):
    """The serving path: the AGI setup step's metadata (claimed by the call flow) in the
    record, with the echo brain and the real caller."""
    import uuid as uuidlib

    import trio.testing

    from agent.base.config import ServerSettings
    from agent.conversation.echo import EchoBrain
    from agent.demo.softphone import Caller, CallerParams, HangUp, Say, WaitAgent
    from agent.media.server import handle_connection
    from agent.pbx.callflow import CallFlow
    from agent.pbx.callmeta import CallMetadata
    from agent.pbx.callmeta_store import CallMetadataStore

    obs = observability(tmp_path, recording=True)
    store = CallMetadataStore.in_memory()
    flow = CallFlow(store, require_setup=True)
    call_uuid = uuidlib.uuid4()
    store.add(CallMetadata(call_uuid, did=DID, caller_id="447700900555"), trio.current_time())
    factory = obs.wrap(EchoBrain, metadata_for=flow.metadata)
    client, server = trio.testing.memory_stream_pair()
    caller = Caller(
        [Say(speechlike(1.0)), WaitAgent(timeout_s=5), HangUp()],
        params=CallerParams(agent_quiet_ms=600),
        call_uuid=call_uuid,
    )
    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            lambda: handle_connection(
                server, ServerSettings(brain="echo"), factory, accept=flow.accept
            )
        )
        report = await caller.run(client)
    await obs.flush()
    record = obs.store.get_call(str(call_uuid))
    assert (record.did, record.caller_id, record.company) == (DID, "447700900555", None)
    assert (record.outcome, record.end_reason) == ("ended", "hangup")
    assert record.cost == 0.0 and obs.store.turns(str(call_uuid)) == []
    assert report.utterances[0].response_ms is not None  # the echo came back
    found = samples(obs.metrics.render().decode())
    assert value(found, "voice_agent_calls_total", outcome="ended", company="") == 1
    assert value(found, "voice_agent_active_calls") == 0
    assert record.recording is not None and tmp_path.joinpath("recordings").is_dir()
    obs.store.close()
    obs.writer.close()
