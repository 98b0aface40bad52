"""Serve's collector settings: start-up frozen, the middle and old generations spaced out."""

from __future__ import annotations

import gc

import pytest

from agent.service.collector import (
    MIDDLE_PASSES_PER_OLD,
    YOUNG_PASSES_PER_MIDDLE,
    settle_collector,
)


@pytest.fixture
def restored_collector():
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_start_up_is_frozen_and_the_young_threshold_kept(restored_collector):
    young, middle, old = gc.get_threshold()
    gc.unfreeze()
    settle_collector()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (young, YOUNG_PASSES_PER_MIDDLE, MIDDLE_PASSES_PER_OLD)
    # Python's own settings were changed, and a full pass is no more frequent
    assert (middle, old) != (YOUNG_PASSES_PER_MIDDLE, MIDDLE_PASSES_PER_OLD)
    assert middle * old <= YOUNG_PASSES_PER_MIDDLE * MIDDLE_PASSES_PER_OLD
