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


def test_the_live_midi_sender_holds_the_interval_while_its_thread_runs():
    """``studio live`` sends its notes from its own thread (``live.TimedSender``): short interval
    from its start to its close, CPython's again after, every note sent."""
    import time

    from studio.live import LiveReport, TimedSender

    class Port:
        sent: list = []

        def send(self, msg) -> bool:
            self.sent.append(list(msg))
            return True

    port, report = Port(), LiveReport("test", "look-ahead")
    sender = TimedSender(port, report)
    deadline = time.perf_counter() + 2.0
    while realtime.holders() == 0 and time.perf_counter() < deadline:
        time.sleep(0.001)
    assert sys.getswitchinterval() == pytest.approx(realtime.SWITCH_INTERVAL_S)
    now = time.perf_counter()
    sender.put_note(now + 0.01, now + 0.02, 0, 60, 100)
    sender.close()
    assert realtime.holders() == 0 and sys.getswitchinterval() == pytest.approx(0.005)
    assert [m[0] & 0xF0 for m in port.sent] == [0x90, 0x80] and report.notes_sent == 1


def test_a_lease_counts_once_however_often_it_is_taken_or_given_back():
    """An owner's hold (``AudioOutput`` opened twice, closed twice): one hold, one release."""
    a, b = realtime.Lease(), realtime.Lease()
    a.take()
    a.take()
    b.take()
    assert realtime.holders() == 2
    a.give_back()
    a.give_back()
    assert realtime.holders() == 1 and sys.getswitchinterval() == pytest.approx(realtime.SWITCH_INTERVAL_S)
    b.give_back()
    assert realtime.holders() == 0 and sys.getswitchinterval() == pytest.approx(0.005)
