"""The pacer's wake-up timer (csrc/pacetimer.c): a descriptor readable when it fires."""

from __future__ import annotations

import os
import select
import sys

import pytest

from dsp import WakeTimer

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="timerfd is Linux's")


@pytest.fixture
def timer():
    opened = WakeTimer.open()
    assert opened is not None
    yield opened
    opened.close()


def readable(timer: WakeTimer, wait_s: float = 0.0) -> bool:
    return bool(select.select([timer.fileno()], [], [], wait_s)[0])


def test_a_new_timer_is_not_readable(timer):
    assert not readable(timer)


def test_armed_at_once_it_becomes_readable(timer):
    timer.arm(0)
    assert readable(timer, wait_s=5)


def test_a_negative_delay_fires_at_once(timer):
    timer.arm(-1.0)
    assert readable(timer, wait_s=5)


def test_it_fires_after_its_delay_not_before(timer):
    timer.arm(60)
    assert not readable(timer, wait_s=0.05)


def test_arming_again_clears_an_expiry_nobody_read(timer):
    timer.arm(0)
    assert readable(timer, wait_s=5)
    timer.arm(60)
    assert not readable(timer)


def test_disarm_clears_an_expiry_and_stops_it(timer):
    timer.arm(0)
    assert readable(timer, wait_s=5)
    timer.disarm()
    assert not readable(timer, wait_s=0.05)


def test_close_releases_the_descriptor():
    timer = WakeTimer.open()
    assert timer is not None
    fd = timer.fileno()
    timer.close()
    timer.close()  # twice is harmless
    with pytest.raises(OSError):
        os.fstat(fd)


def test_a_closed_timer_reports_the_error_instead_of_crashing():
    timer = WakeTimer.open()
    assert timer is not None
    timer.close()
    with pytest.raises(OSError):
        timer.arm(0.001)
