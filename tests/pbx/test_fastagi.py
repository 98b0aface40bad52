"""The FastAGI server against a scripted Asterisk peer, and the call metadata store."""

from __future__ import annotations

import uuid

import pytest
import trio
import trio.testing

from agent.base.errors import ConfigError
from agent.pbx.callmeta import CallMetadata, Decision, UnknownCallError
from agent.pbx.callmeta_store import CallMetadataStore
from agent.pbx.fastagi import AgiSettings, _sweep, handle_agi_connection, serve_fastagi


def env_block(script: str, *args: str, extension: str = "15551230000", dnid: str = "unknown"):
    lines = [
        "agi_network: yes",
        f"agi_network_script: {script}",
        f"agi_request: agi://127.0.0.1:4573/{script}",
        "agi_channel: PJSIP/trunk-0000002a",
        "agi_language: en",
        "agi_type: PJSIP",
        "agi_uniqueid: 1723456789.42",
        "agi_version: 22.10.1",
        "agi_callerid: 15557654321",
        "agi_calleridname: Ann Caller",
        "agi_callingpres: 0",
        f"agi_dnid: {dnid}",
        "agi_rdnis: unknown",
        "agi_context: voice-agent-inbound",
        f"agi_extension: {extension}",
        "agi_priority: 4",
        "agi_enhanced: 0.0",
        "agi_accountcode: ",
        "agi_threadid: 140212345678",
    ]
    lines += [f"agi_arg_{i}: {a}" for i, a in enumerate(args, 1)]
    return ("\n".join(lines) + "\n\n").encode()


class FakeAsterisk:
    """Plays Asterisk's side: sends the block, then answers each command line."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.buffer = b""
        self.commands: list[str] = []

    async def read_command(self) -> str | None:
        while b"\n" not in self.buffer:
            data = await self.stream.receive_some(4096)
            if not data:
                return None
            self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\n")
        self.commands.append(line.decode())
        return line.decode()

    async def answer_all(self, reply: bytes = b"200 result=1\n", before: bytes = b"") -> None:
        """Answer every command with ``reply`` until the server closes."""
        while await self.read_command() is not None:
            await self.stream.send_all(before + reply)
            before = b""

    def variables(self) -> dict[str, str]:
        out = {}
        for line in self.commands:
            if line.startswith("SET VARIABLE "):
                name, _, value = line.removeprefix("SET VARIABLE ").partition(" ")
                out[name] = value.strip('"')
        return out


async def agi_over_tcp(port: int, script: str, *args: str, host: str = "127.0.0.1"):
    """One FastAGI session over TCP as Asterisk runs it; the variables it set."""
    stream = await trio.open_tcp_stream(host, port)
    async with stream:
        peer = FakeAsterisk(stream)
        await stream.send_all(env_block(script, *args))
        with trio.fail_after(5):
            await peer.answer_all()
    return peer.variables()


async def run_session(peer_script, *, settings=None, store=None, active_calls=lambda: 0):
    settings = settings or AgiSettings()
    store = store if store is not None else CallMetadataStore.in_memory()
    ours, theirs = trio.testing.memory_stream_pair()
    peer = FakeAsterisk(theirs)
    outcome = []

    async def server():
        outcome.append(
            await handle_agi_connection(ours, settings, store, active_calls=active_calls)
        )

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server)
            await peer_script(peer)
    return outcome[0], peer, store


async def test_setup_issues_uuid_and_stores_metadata():
    async def script(peer):
        await peer.stream.send_all(env_block("setup"))
        await peer.answer_all()

    outcome, peer, store = await run_session(script)
    assert outcome == "ok"
    variables = peer.variables()
    assert variables["VOICE_AGENT_STATUS"] == "ok"
    call_uuid = uuid.UUID(variables["VOICE_AGENT_UUID"])
    assert call_uuid.version == 4
    meta = store.claim(call_uuid, trio.current_time())
    assert meta == CallMetadata(
        uuid=call_uuid,
        did="15551230000",
        caller_id="15557654321",
        caller_name="Ann Caller",
        channel="PJSIP/trunk-0000002a",
        uniqueid="1723456789.42",
        context="voice-agent-inbound",
    )


async def test_setup_takes_did_from_dnid_when_extension_is_s():
    async def script(peer):
        await peer.stream.send_all(env_block("setup?x=1", extension="s", dnid="+442071234567"))
        await peer.answer_all()

    outcome, peer, store = await run_session(script)
    assert outcome == "ok"
    meta = store.claim(peer.variables()["VOICE_AGENT_UUID"], trio.current_time())
    assert meta.did == "+442071234567"


async def test_setup_busy_at_the_call_limit():
    async def script(peer):
        await peer.stream.send_all(env_block("setup"))
        await peer.answer_all()

    settings = AgiSettings(max_calls=2)
    outcome, peer, store = await run_session(script, settings=settings, active_calls=lambda: 2)
    assert outcome == "busy"
    assert peer.variables() == {"VOICE_AGENT_STATUS": "busy"}
    assert any(c.startswith("VERBOSE") and "capacity" in c for c in peer.commands)
    assert len(store) == 0
    # One slot free: the first setup gets it, the pending one then counts as in use.
    outcome, _, store = await run_session(script, settings=settings, active_calls=lambda: 1)
    assert outcome == "ok"
    outcome, _, _ = await run_session(
        script, settings=settings, store=store, active_calls=lambda: 1
    )
    assert outcome == "busy"


@pytest.mark.parametrize("how", ["arg", "query"])
async def test_next_returns_the_stored_decision(how):
    store = CallMetadataStore.in_memory()
    call_uuid = uuid.uuid4()
    now = trio.current_time()
    store.add(CallMetadata(uuid=call_uuid), now)
    store.claim(call_uuid, now)
    store.set_decision(call_uuid, "transfer", "PJSIP/1001", now=now)
    block = (
        env_block("next", str(call_uuid)) if how == "arg" else env_block(f"next?uuid={call_uuid}")
    )

    async def script(peer):
        await peer.stream.send_all(block)
        await peer.answer_all()

    outcome, peer, store = await run_session(script, store=store)
    assert outcome == "ok"
    assert peer.variables() == {
        "VOICE_AGENT_ACTION": "transfer",
        "VOICE_AGENT_TARGET": "PJSIP/1001",
        "VOICE_AGENT_STATUS": "ok",
    }
    # The decision is read once; the call is forgotten.
    assert len(store) == 0


async def test_next_without_decision_and_with_unknown_uuid_use_the_fallback():
    store = CallMetadataStore.in_memory()
    known = uuid.uuid4()
    store.add(CallMetadata(uuid=known), trio.current_time())

    for arg, status in [(str(known), "no-decision"), (str(uuid.uuid4()), "unknown-uuid")]:

        async def script(peer, arg=arg):
            await peer.stream.send_all(env_block("next", arg))
            await peer.answer_all()

        settings = AgiSettings(fallback_action="voicemail")
        outcome, peer, _ = await run_session(script, store=store, settings=settings)
        assert outcome == status
        assert peer.variables() == {
            "VOICE_AGENT_ACTION": "voicemail",
            "VOICE_AGENT_TARGET": "",
            "VOICE_AGENT_STATUS": status,
        }


async def test_next_with_garbage_uuid_is_unknown():
    async def script(peer):
        await peer.stream.send_all(env_block("next", "not-a-uuid"))
        await peer.answer_all()

    outcome, peer, _ = await run_session(script)
    assert outcome == "unknown-uuid"
    assert peer.variables()["VOICE_AGENT_ACTION"] == "voicemail"  # the fallback, as the dialplan's


async def test_hangup_notice_mid_setup_discards_the_metadata():
    async def script(peer):
        await peer.stream.send_all(env_block("setup"))
        await peer.answer_all(before=b"HANGUP\n")  # HANGUP before the first reply

    outcome, peer, store = await run_session(script)
    assert outcome == "hangup"
    assert "VOICE_AGENT_UUID" in peer.variables()  # SET VARIABLE is dead-safe
    assert len(store) == 0


async def test_eof_mid_setup_fails_cleanly_and_keeps_nothing():
    async def script(peer):
        await peer.stream.send_all(env_block("setup"))
        assert (await peer.read_command()).startswith("SET VARIABLE VOICE_AGENT_UUID")
        await peer.stream.aclose()

    outcome, _, store = await run_session(script)
    assert outcome == "failed"
    assert len(store) == 0


@pytest.mark.parametrize(
    "garbage",
    [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n"],
)
async def test_garbage_input_closes_without_commands(garbage):
    async def script(peer):
        await peer.stream.send_all(garbage)
        assert await peer.read_command() is None  # closed, nothing sent

    outcome, peer, store = await run_session(script)
    assert outcome == "failed" and peer.commands == [] and len(store) == 0


async def test_garbage_reply_fails_the_session():
    async def script(peer):
        await peer.stream.send_all(env_block("setup"))
        await peer.answer_all(reply=b"hello there\n")

    outcome, _, store = await run_session(script)
    assert outcome == "failed" and len(store) == 0


async def test_unknown_script_gets_a_clear_failure(caplog):
    async def script(peer):
        await peer.stream.send_all(env_block("setpu"))
        await peer.answer_all()

    outcome, peer, store = await run_session(script)
    assert outcome == "unknown-script"
    assert peer.commands[0].startswith("VERBOSE ") and "'setpu'" in peer.commands[0]
    assert peer.variables() == {"VOICE_AGENT_STATUS": "error"}
    assert "unknown AGI script 'setpu'" in caplog.text
    assert len(store) == 0


async def test_silent_peer_times_out(autojump_clock):
    start = trio.current_time()

    async def script(peer):
        await peer.stream.send_all(b"agi_network: yes\n")  # then nothing
        assert await peer.read_command() is None

    outcome, _, _ = await run_session(script, settings=AgiSettings(read_timeout_s=5.0))
    assert outcome == "failed"
    assert trio.current_time() - start == pytest.approx(5.0)


async def test_serve_fastagi_over_loopback_tcp():
    store = CallMetadataStore.in_memory()
    settings = AgiSettings(port=0)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(serve_fastagi, settings, store)
            port = listeners[0].socket.getsockname()[1]
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            async with stream:
                peer = FakeAsterisk(stream)
                await stream.send_all(env_block("setup"))
                await peer.answer_all()
            nursery.cancel_scope.cancel()
    call_uuid = peer.variables()["VOICE_AGENT_UUID"]
    assert store.is_issued(call_uuid, trio.current_time())


async def test_sweeper_expires_unclaimed_metadata(autojump_clock):
    store = CallMetadataStore.in_memory(pending_ttl_s=60.0)
    unclaimed, claimed = uuid.uuid4(), uuid.uuid4()
    store.add(CallMetadata(uuid=unclaimed), trio.current_time())
    store.add(CallMetadata(uuid=claimed), trio.current_time())
    store.claim(claimed, trio.current_time())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_sweep, store, 5.0)
        await trio.sleep(59.0)
        assert len(store) == 2
        await trio.sleep(6.0)
        assert len(store) == 1
        nursery.cancel_scope.cancel()
    assert store.statistics() == {"pending": 0, "claimed": 1, "expired_unclaimed": 1}


# The store on its own (pure, time passed in) --------------------------------


def test_store_claim_once_then_decision_once():
    store = CallMetadataStore.in_memory(pending_ttl_s=60.0)
    call_uuid = uuid.uuid4()
    store.add(CallMetadata(uuid=call_uuid, did="100"), now=0.0)
    assert store.is_issued(str(call_uuid), 1.0)
    assert not store.is_issued(uuid.uuid4(), 1.0)
    assert not store.is_issued("garbage", 1.0)
    assert store.claim(str(call_uuid).upper(), 59.0).did == "100"
    with pytest.raises(UnknownCallError, match="already claimed"):
        store.claim(call_uuid, 59.5)
    # Claimed calls outlive the 60 s pending TTL.
    assert store.set_decision(call_uuid, "voicemail", now=600.0) == Decision("voicemail")
    assert store.take_decision(call_uuid, 601.0) == Decision("voicemail")
    with pytest.raises(UnknownCallError):
        store.take_decision(call_uuid, 602.0)


def test_store_pending_metadata_expires_after_60_s():
    store = CallMetadataStore.in_memory()
    call_uuid = uuid.uuid4()
    store.add(CallMetadata(uuid=call_uuid), now=100.0)
    assert store.pending_count(159.9) == 1
    with pytest.raises(UnknownCallError, match="expired"):
        store.claim(call_uuid, 160.0)
    assert store.expire(160.0) == 1  # the sweeper's pass
    assert len(store) == 0 and store.statistics()["expired_unclaimed"] == 1
    store.add(CallMetadata(uuid=call_uuid), now=200.0)  # gone: the UUID may come again
    with pytest.raises(ValueError, match="already known"):
        store.add(CallMetadata(uuid=call_uuid), now=200.0)


@pytest.mark.parametrize(
    ("action", "target"),
    [
        ("transfer", ""),
        ("transfer", "PJSIP/1001,,tT"),  # would inject Dial options
        ("transfer", "PJSIP/1001&PJSIP/1002"),
        ("voicemail", "PJSIP/1001"),
        ("dance", ""),
    ],
)
def test_bad_decisions_are_refused(action, target):
    with pytest.raises(ValueError):
        Decision(action, target)


def test_settings_from_env():
    settings = AgiSettings.from_env(
        {
            "VOICE_AGENT_AGI_PORT": "4600",
            "VOICE_AGENT_MAX_CALLS": "8",
            "VOICE_AGENT_FALLBACK_ACTION": "voicemail",
        }
    )
    assert (settings.port, settings.max_calls, settings.fallback_action) == (4600, 8, "voicemail")
    with pytest.raises(ConfigError, match="VOICE_AGENT_AGI_PORT"):
        AgiSettings.from_env({"VOICE_AGENT_AGI_PORT": "70000"})
    with pytest.raises(ConfigError, match="VOICE_AGENT_FALLBACK_ACTION='dance'"):
        AgiSettings.from_env({"VOICE_AGENT_FALLBACK_ACTION": "dance"})
