"""The AGI codec: environment, replies, HANGUP notices, command building."""

from __future__ import annotations

import pytest

from agent.base.errors import LocalProtocolError, RemoteProtocolError
from agent.wire import agi

ENV = (
    b"agi_network: yes\n"
    b"agi_network_script: next?uuid=abc&x=1\n"
    b"agi_request: agi://127.0.0.1/next?uuid=abc&x=1\n"
    b"agi_channel: PJSIP/trunk-00000007\n"
    b"agi_language: en\n"
    b"agi_type: PJSIP\n"
    b"agi_uniqueid: 1723456789.42\n"
    b"agi_callerid: 15557654321\n"
    b"agi_calleridname: unknown\n"
    b"agi_dnid: unknown\n"
    b"agi_context: voice-agent-inbound\n"
    b"agi_extension: 15551230000\n"
    b"agi_priority: 2\n"
    b"agi_accountcode: \n"
    b"agi_arg_1: first, with comma\n"
    b"agi_arg_2: second: colon\n"
    b"\n"
)


def events(conn: agi.AgiConnection) -> list[object]:
    out = []
    while (event := conn.next_event()) is not agi.NEED_DATA:
        out.append(event)
        if event is agi.CLOSED:
            break
    return out


def feed_whole(data: bytes) -> tuple[agi.AgiConnection, list[object]]:
    conn = agi.AgiConnection()
    conn.receive_data(data)
    return conn, events(conn)


def feed_bytewise(data: bytes) -> tuple[agi.AgiConnection, list[object]]:
    conn = agi.AgiConnection()
    out = []
    for i in range(len(data)):
        conn.receive_data(data[i : i + 1])
        out += events(conn)
    return conn, out


@pytest.mark.parametrize("feed", [feed_whole, feed_bytewise])
def test_environment_parsed_whole_and_byte_by_byte(feed):
    conn, got = feed(ENV)
    assert len(got) == 1
    env = got[0]
    assert isinstance(env, agi.Environment)
    assert env.network and env.network_script == "next?uuid=abc&x=1"
    assert env.script == "next"
    assert env.query == {"uuid": "abc", "x": "1"}
    assert env.args == ("first, with comma", "second: colon")
    assert env.channel == "PJSIP/trunk-00000007"
    assert env.uniqueid == "1723456789.42"
    assert env.callerid == "15557654321"
    assert env.calleridname == "" and env.dnid == ""  # "unknown" means not given
    assert env.extension == "15551230000"
    assert env.get("accountcode") == "" and "agi_accountcode" in env.variables
    assert conn.environment is env


def test_environment_with_crlf_and_trailing_bytes_kept():
    env_crlf = ENV.replace(b"\n", b"\r\n")
    conn = agi.AgiConnection()
    conn.receive_data(env_crlf + b"HANGUP\r\n200 res")  # trailing partial line kept
    env, notice = events(conn)
    assert isinstance(env, agi.Environment) and env.extension == "15551230000"
    assert isinstance(notice, agi.HangupNotice) and conn.hung_up
    conn.send_command(agi.noop())
    assert conn.next_event() is agi.NEED_DATA
    conn.receive_data(b"ult=0\r\n")
    assert conn.next_event() == agi.Reply(code=200, result=0)


def exchange(replies: bytes) -> list[object]:
    """Send one command, then feed the replies byte by byte."""
    conn, _ = feed_whole(ENV)
    conn.send_command(agi.get_variable("X"))
    out = []
    for i in range(len(replies)):
        conn.receive_data(replies[i : i + 1])
        out += events(conn)
    return out


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"200 result=1\n", agi.Reply(code=200, result=1)),
        (b"200 result=-1\n", agi.Reply(code=200, result=-1)),
        (b"200 result=1 (a (nested) value)\n", agi.Reply(200, 1, "a (nested) value")),
        (b"200 result=1 ()\n", agi.Reply(200, 1, "")),
        (
            b"200 result=0 endpos=1234\n",
            agi.Reply(200, 0, None, {"endpos": "1234"}),
        ),
        (b"510 Invalid or unknown command\n", agi.Reply(510, text="Invalid or unknown command")),
        (
            b"511 Command Not Permitted on a dead channel or intercept routine\n",
            agi.Reply(511, text="Command Not Permitted on a dead channel or intercept routine"),
        ),
    ],
)
def test_single_line_replies(line, expected):
    assert exchange(line) == [expected]


def test_multiline_520_usage_reply():
    data = (
        b"520-Invalid command syntax.  Proper usage follows:\n"
        b"Usage: SET VARIABLE <variablename> <value>\n"
        b"HANGUP is just a word here\n"
        b"520 End of proper usage.\n"
    )
    (reply,) = exchange(data)
    assert reply.code == 520 and not reply.ok
    assert reply.usage == (
        "Usage: SET VARIABLE <variablename> <value>",
        "HANGUP is just a word here",
    )
    assert reply.text == "End of proper usage."


def test_hangup_before_reply_is_a_notice_not_the_reply():
    got = exchange(b"HANGUP\n200 result=1 (v)\nHANGUP\n")
    assert got == [agi.HangupNotice(), agi.Reply(200, 1, "v"), agi.HangupNotice()]


def test_eof_after_environment_is_closed_and_stays_closed():
    conn, _ = feed_whole(ENV)
    conn.receive_data(b"")
    assert conn.next_event() is agi.CLOSED
    assert conn.next_event() is agi.CLOSED
    with pytest.raises(LocalProtocolError):
        conn.receive_data(b"more")


@pytest.mark.parametrize(
    ("data", "then_eof", "problem"),
    [
        (b"GET / HTTP/1.1\r\n", False, "environment line"),
        (b"Host: example.com\n", False, "environment line"),
        (b"\n", False, "empty environment"),
        (b"agi_request: x\n", True, "before the environment ended"),
        (b"agi_request: " + b"x" * 9000, False, "longer than"),
    ],
)
def test_garbage_environment_raises_typed_error(data, then_eof, problem):
    conn = agi.AgiConnection()
    conn.receive_data(data)
    if then_eof:
        assert conn.next_event() is agi.NEED_DATA
        conn.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match=problem):
        conn.next_event()
    with pytest.raises(RemoteProtocolError):  # the error sticks
        conn.next_event()


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"hello\n", "not a reply line"),
        (b"200 ok\n", "without result="),
        (b"20 result=1\n", "not a reply line"),
        (b"200-result=1\n", "not a reply line"),
    ],
)
def test_garbage_reply_raises_typed_error(data, problem):
    with pytest.raises(RemoteProtocolError, match=problem):
        exchange(data)


def test_reply_without_a_command_is_an_error():
    conn, _ = feed_whole(ENV)
    conn.receive_data(b"200 result=1\n")
    with pytest.raises(RemoteProtocolError, match="no command sent"):
        conn.next_event()


def test_eof_mid_line_and_mid_usage_are_errors():
    conn, _ = feed_whole(ENV)
    conn.send_command(agi.noop())
    conn.receive_data(b"200 resu")
    conn.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match="middle of a line"):
        conn.next_event()
    conn, _ = feed_whole(ENV)
    conn.send_command(agi.noop())
    conn.receive_data(b"520-Invalid\nusage\n")
    conn.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match="520"):
        conn.next_event()


def test_one_outstanding_command_and_environment_first():
    conn = agi.AgiConnection()
    with pytest.raises(LocalProtocolError, match="before the environment"):
        conn.send_command(agi.noop())
    conn.receive_data(ENV)
    events(conn)
    assert conn.send_command(agi.answer()) == b"ANSWER\n"
    with pytest.raises(LocalProtocolError, match="still waiting"):
        conn.send_command(agi.noop())
    conn.receive_data(b"200 result=0\n")
    assert conn.next_event() == agi.Reply(200, 0)
    assert conn.send_command(agi.noop()) == b"NOOP\n"


def test_command_builders_quote_like_asterisk():
    assert agi.set_variable("VOICE_AGENT_UUID", "6f1c") == 'SET VARIABLE VOICE_AGENT_UUID "6f1c"'
    assert agi.set_variable("CALLERID(name)", 'Bob "B" \\o/') == (
        'SET VARIABLE CALLERID(name) "Bob \\"B\\" \\\\o/"'
    )
    assert agi.set_variable("X", "") == 'SET VARIABLE X ""'
    assert agi.get_variable("CALLERID(num)") == "GET VARIABLE CALLERID(num)"
    assert agi.get_full_variable("${EXTEN}-x") == 'GET FULL VARIABLE "${EXTEN}-x"'
    assert agi.verbose("routing to agent", 3) == 'VERBOSE "routing to agent" 3'
    assert agi.exec_app("Playback", "a,b") == 'EXEC Playback "a,b"'
    assert agi.hangup() == "HANGUP"
    assert agi.hangup("PJSIP/x-1") == 'HANGUP "PJSIP/x-1"'


@pytest.mark.parametrize(
    "build",
    [
        lambda: agi.set_variable("BAD NAME", "v"),
        lambda: agi.set_variable('X"', "v"),
        lambda: agi.set_variable("X", "line\nbreak"),
        lambda: agi.verbose("m", 9),
        lambda: agi.exec_app("Play back"),
    ],
)
def test_bad_commands_are_refused(build):
    with pytest.raises(LocalProtocolError):
        build()


def test_send_command_refuses_line_breaks_and_overlong_lines():
    conn, _ = feed_whole(ENV)
    with pytest.raises(LocalProtocolError, match="one line"):
        conn.send_command("NOOP\nHANGUP")
    with pytest.raises(LocalProtocolError, match="longer"):
        conn.send_command("VERBOSE " + "x" * agi.MAX_LINE)
    assert not conn.awaiting_reply


def test_an_endless_environment_is_refused_before_it_piles_up():
    conn = agi.AgiConnection()
    line = b"agi_x%d: " + b"a" * 1000 + b"\n"
    with pytest.raises(RemoteProtocolError, match="environment longer than 300 lines"):
        for n in range(301):
            conn.receive_data(line % n)
            assert conn.next_event() is agi.NEED_DATA
    big = agi.AgiConnection()
    with pytest.raises(RemoteProtocolError, match=r"or 262144 bytes"):
        for n in range(40):
            big.receive_data(b"agi_y%d: " % n + b"b" * 8000 + b"\n")
            assert big.next_event() is agi.NEED_DATA
    assert n < 40
