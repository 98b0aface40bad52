"""Message history: interruptions cut to what was heard, trimming to a budget."""

from __future__ import annotations

import pytest

from agent.base.events import Message, ToolCall
from agent.dialogue.history import NOT_RUN_RESULT, History, cut_to_heard, mark_interrupted

REPLY = "The call-out fee is £85. I can send someone on Tuesday morning."
QUOTE = ToolCall("call_1", "get_quote", '{"job": "leak"}')
SLOT = ToolCall("call_2", "find_slot", '{"day": "tue"}')


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"heard_chars": 0}, ("", True)),
        ({"heard_chars": 3}, ("The", True)),
        ({"heard_chars": 6}, ("The", True)),  # "The ca|ll-out": half a word is not heard
        ({"heard_chars": 4}, ("The", True)),
        ({"heard_chars": 24}, ("The call-out fee is £85.", True)),
        ({"heard_chars": 47}, ("The call-out fee is £85. I can send someone on", True)),
        ({"heard_chars": len(REPLY)}, (REPLY, False)),
        ({"heard_chars": 10_000}, (REPLY, False)),
        ({"heard_text": "The call-out fee"}, ("The call-out fee", True)),
        ({"heard_text": "The call-out fee is £85. I"}, ("The call-out fee is £85. I", True)),
        ({"heard_text": ""}, ("", True)),
        ({"heard_text": REPLY}, (REPLY, False)),
        # The TTS got cleaned text, so it is not a prefix: fall back to word count.
        ({"heard_text": "The call-out fee is"}, ("The call-out fee is", True)),
    ],
)
def test_cut_to_heard(kwargs, expected):
    assert cut_to_heard(REPLY, **kwargs) == expected


def test_cut_to_heard_by_word_count_when_markup_differs():
    text = "Sure, **Tuesday** works. Shall I book it?"
    assert cut_to_heard(text, heard_text="Sure, Tuesday works.") == (
        "Sure, **Tuesday** works.",
        True,
    )


def test_cut_drops_a_dangling_comma():
    assert cut_to_heard("Well, maybe", heard_chars=6) == ("Well", True)


@pytest.mark.parametrize("kwargs", [{}, {"heard_text": "a", "heard_chars": 1}])
def test_cut_needs_exactly_one_measure(kwargs):
    with pytest.raises(ValueError, match="exactly one"):
        cut_to_heard("a b", **kwargs)


def test_mark_interrupted():
    assert mark_interrupted("I can send someone on") == (
        "I can send someone on... [interrupted by the caller]"
    )
    assert mark_interrupted("It is £85.") == "It is £85. [interrupted by the caller]"


def conversation() -> History:
    history = History("You are a receptionist.")
    history.add_user("My tap is leaking.")
    history.add_assistant(REPLY)
    return history


def test_interrupt_cuts_the_reply_to_what_was_heard():
    history = conversation()
    assert history.interrupt(heard_chars=47)
    assert history.messages[-1] == Message(
        "assistant", "The call-out fee is £85. I can send someone on... [interrupted by the caller]"
    )
    history.add_user("Tuesday is no good.")
    assert [m.role for m in history.for_llm()] == ["system", "user", "assistant", "user"]


def test_interrupt_when_everything_was_heard_changes_nothing():
    history = conversation()
    assert not history.interrupt(heard_text=REPLY)
    assert history.messages[-1].content == REPLY


def test_unheard_reply_is_removed_and_the_caller_continuation_merges():
    history = History("sys")
    history.add_user("My postcode is")
    history.add_assistant("Could you tell me your postcode?")
    assert history.interrupt(heard_chars=0)
    history.add_user("SW1A 1AA.")
    assert history.messages[1:] == (Message("user", "My postcode is SW1A 1AA."),)


def test_interrupt_without_a_reply_since_the_caller_spoke():
    history = conversation()
    history.add_user("Hello?")
    assert not history.interrupt(heard_chars=3)


def test_tool_calls_stay_paired_when_nothing_was_heard():
    history = History("sys")
    history.add_user("How much for a leak?")
    history.add_assistant("Let me check.", [QUOTE])
    history.add_tool_result("call_1", '{"price": 85}')
    assert history.interrupt(heard_chars=0)
    assert history.messages[2] == Message("assistant", None, (QUOTE,))
    assert history.messages[3].tool_call_id == "call_1"


def test_interrupt_during_a_tool_call_closes_it():
    history = History("sys")
    history.add_user("Book Tuesday.")
    history.add_assistant("One moment while I check,", [SLOT])
    assert history.interrupt(heard_text="One moment")
    assert history.messages[2].content == "One moment... [interrupted by the caller]"
    assert history.messages[3] == Message("tool", NOT_RUN_RESULT, tool_call_id="call_2")
    assert history.pending_tool_calls() == ()


def test_tool_result_bookkeeping():
    history = History("sys")
    history.add_user("Quote and slot please.")
    history.add_assistant(None, [QUOTE, SLOT])
    assert history.pending_tool_calls() == (QUOTE, SLOT)
    history.add_tool_result("call_2", "tue 9am")
    assert history.pending_tool_calls() == (QUOTE,)
    with pytest.raises(ValueError, match="have no result yet"):
        history.add_assistant("It is £85.")
    with pytest.raises(ValueError, match="no tool call 'call_9'"):
        history.add_tool_result("call_9", "x")
    history.add_tool_result("call_1", "85")
    history.add_assistant("It is £85 and Tuesday at nine works.")
    openai = history.to_openai()
    assert openai[2]["tool_calls"][0]["function"]["name"] == "get_quote"
    assert [m.get("tool_call_id") for m in openai[3:5]] == ["call_2", "call_1"]


def test_a_new_caller_turn_closes_unanswered_tool_calls():
    history = History("sys")
    history.add_user("Quote please.")
    history.add_assistant(None, [QUOTE])
    history.add_user("Actually, never mind.")
    assert [m.role for m in history.messages] == ["system", "user", "assistant", "tool", "user"]


@pytest.mark.parametrize(
    "call",
    [
        lambda h: h.add_user("   "),
        lambda h: h.add_assistant(""),
        lambda h: History("sys", budget_chars=0),
    ],
)
def test_bad_input_is_refused(call):
    with pytest.raises(ValueError):
        call(History("sys"))


def long_call() -> History:
    history = History("S" * 100, measure=lambda m: len(m.content or "") + 10 * len(m.tool_calls))
    for i in range(5):
        history.add_user(f"user {i} " + "u" * 40)  # 47
        if i == 2:
            history.add_assistant(None, [QUOTE])  # 10
            history.add_tool_result("call_1", "t" * 40)  # 40
        history.add_assistant(f"bot {i} " + "b" * 40)  # 46
    return history


def test_trimming_keeps_system_first_and_whole_newest_exchanges():
    history = long_call()
    assert len(history.for_llm(budget_chars=10_000)) == 1 + 5 * 2 + 2
    plain, with_tool = 47 + 46, 47 + 10 + 40 + 46  # exchange sizes
    kept = history.for_llm(budget_chars=100 + 2 * plain)
    assert kept[0].role == "system"
    assert [m.content[:6] for m in kept[1:]] == ["user 3", "bot 3 ", "user 4", "bot 4 "]
    # The exchange with the tool call is dropped or kept whole, never split.
    kept = history.for_llm(budget_chars=100 + 2 * plain + with_tool)
    assert [m.role for m in kept[1:5]] == ["user", "assistant", "tool", "assistant"]
    assert kept[2].tool_calls == (QUOTE,)
    kept = history.for_llm(budget_chars=100 + 2 * plain + with_tool - 1)
    assert kept[1].content.startswith("user 3")


def test_trimming_always_keeps_the_last_exchange():
    history = long_call()
    kept = history.for_llm(budget_chars=1)
    assert [m.role for m in kept] == ["system", "user", "assistant"]
    assert kept[1].content.startswith("user 4")
    assert len(history.messages) == 1 + 5 * 2 + 2  # trimming is a view, nothing lost


def test_system_prompt_can_change():
    history = conversation()
    history.set_system_prompt("Now collect the address.")
    assert history.for_llm()[0] == Message("system", "Now collect the address.")


def test_take_back_drops_the_reply_so_the_next_words_join():
    history = History("system")
    history.add_user("I need a plumber.")
    history.add_assistant("Sure. What is" + " [interrupted by the caller]")
    assert history.take_back()
    history.add_user("There is water everywhere.")
    assert [m.content for m in history.messages[1:]] == [
        "I need a plumber. There is water everywhere."
    ]


def test_take_back_keeps_a_tool_that_ran_and_drops_one_that_did_not():
    call = ToolCall("c1", "get_quote", "{}")
    ran = History("system")
    ran.add_user("a leak")
    ran.add_assistant(None, [call])
    ran.add_tool_result("c1", '{"fixed": 85}')
    ran.add_assistant("It is 85 pounds.")
    assert not ran.take_back()
    assert [m.role for m in ran.messages[1:]] == ["user", "assistant", "tool"]
    not_run = History("system")
    not_run.add_user("a leak")
    not_run.add_assistant(None, [call])  # the caller spoke before it finished
    assert not_run.take_back()
    assert [m.role for m in not_run.messages[1:]] == ["user"]
    assert not History("system").take_back()


def test_the_open_question_is_the_last_question_of_the_last_reply() -> None:
    h = History("system")
    assert h.open_question() is None
    h.add_assistant("Thanks. What's the address of the job?")
    assert h.open_question() == "What's the address of the job?"
    h.add_assistant("Sorry, the line isn't very clear. Was that S W 1 A, 1 A A? Take your time.")
    assert h.open_question() == "Was that S W 1 A, 1 A A?"
    h.add_user("yes")
    assert h.open_question() is None  # answered: the caller has spoken since
    h.add_assistant("Thanks, I've booked it.")
    assert h.open_question() is None


def test_the_open_question_skips_a_reprompt_and_a_reply_cut_before_its_question() -> None:
    h = History("system")
    h.add_assistant("Sorry, is that a job for us? Which of those do you need?")
    h.add_assistant("Are you still there? Which of" + " [interrupted by the caller]")
    assert h.open_question("Are you still there? ") == "Which of those do you need?"
