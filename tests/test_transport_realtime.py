"""The transport's short GIL switch interval: held while real-time threads run, given back."""
from __future__ import annotations

import sys

import pytest

from studio.transport import realtime


@pytest.fixture(autouse=True)
def _default_interval():
    saved = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    yield
    while realtime.holders():
        realtime.release()
    sys.setswitchinterval(saved)


def test_the_interval_is_short_while_held_and_restored_by_the_last_release():
    realtime.hold()
    realtime.hold()  # the audio output and the MIDI scheduler
    assert sys.getswitchinterval() == pytest.approx(realtime.SWITCH_INTERVAL_S)
    realtime.release()
    assert sys.getswitchinterval() == pytest.approx(realtime.SWITCH_INTERVAL_S)
    realtime.release()
    assert sys.getswitchinterval() == pytest.approx(0.005)
    realtime.release()  # an extra release changes nothing
    assert realtime.holders() == 0 and sys.getswitchinterval() == pytest.approx(0.005)


def test_a_shorter_interval_set_by_the_user_is_kept():
    sys.setswitchinterval(0.0002)
    realtime.hold()
    assert sys.getswitchinterval() == pytest.approx(0.0002)
    realtime.release()
    assert sys.getswitchinterval() == pytest.approx(0.0002)


def test_an_interval_changed_while_held_is_not_overwritten():
    realtime.hold()
    sys.setswitchinterval(0.002)  # someone else's choice, made meanwhile
    realtime.release()
    assert sys.getswitchinterval() == pytest.approx(0.002)
