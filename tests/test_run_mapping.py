"""studio.transport.jack_midi.RunMapping without a JACK server: the audio-to-JACK offset D is
voted over the last callbacks and follows a strict majority both ways (an audio slip moves it
up for good; a run of late-measured callbacks that outvoted the true offset for a while moves
it up and, once passed, back down)."""
from __future__ import annotations

from types import SimpleNamespace

from studio.transport.jack_midi import RunMapping

P = 256


class _Out:
    def __init__(self):
        self.cycle = {}

    def cycle_at_ns(self, tns):
        return self.cycle[tns]


class _Clock:
    ctl = object()  # an audio clock (not the system clock)

    def __init__(self):
        self.a = (0, P, 0)

    def anchor(self):
        return self.a


def _feed(offsets, D0=10_000):
    """One callback per offset (in periods above D0); D after each."""
    out, clock = _Out(), _Clock()
    m = RunMapping(out, clock)
    seen = []
    for k, extra in enumerate(offsets):
        tns = (k + 1) * 5_333_333
        start = k * P
        out.cycle[tns] = start + D0 + extra * P
        clock.a = (start, P, tns)
        m.update()
        seen.append(None if m.D is None else (m.D - D0) // P)
    return m, seen


def test_a_slip_moves_the_offset_up_once_a_majority_sees_it():
    m, seen = _feed([0] * 40 + [1] * 60)
    assert seen[2] == 0 and seen[40 + 14] == 0  # one late vote, or a minority, decides nothing
    assert seen[40 + 16] == 1 and seen[-1] == 1 and len(m.changes) == 1


def test_late_measured_callbacks_that_outvoted_the_offset_are_undone():
    m, seen = _feed([0] * 40 + [1] * 20 + [0] * 60)
    assert max(s for s in seen if s is not None) == 1 and seen[-1] == 0  # back on the true offset
    assert [(D - 10_000) // P for _, D in m.changes] == [1, 0]


def test_a_short_burst_of_late_callbacks_changes_nothing():
    m, seen = _feed([0] * 40 + [1] * 15 + [0] * 40 + [1, 0, 0] * 20)
    assert set(seen[2:]) == {0} and m.changes == []


def test_the_cycle_of_a_callback_is_the_one_whose_midi_callback_entered_nearest():
    """Exact cycle frames from this client's own process callbacks; JACK's clock-driven estimate
    only when none entered within a period of the time asked."""
    from collections import deque

    from studio.transport.jack_midi import JackMidiOutput

    out = object.__new__(JackMidiOutput)
    out.period, out.rate, out._ref = P, 48000, (0, 0)
    step = 5_333_333  # one period in ns
    out._cycle_log = deque([(10**9 + k * step, 4096 + k * P) for k in range(5)])
    out.frame_at_ns = lambda t_ns: 99_999.0  # the estimate, far off: must not be used near the log
    assert out.cycle_at_ns(10**9 + 2 * step + 300_000) == 4096 + 2 * P  # just after its entry
    assert out.cycle_at_ns(10**9 + 3 * step - 300_000) == 4096 + 3 * P  # the next one entered nearer
    assert out.cycle_at_ns(10**9 - step // 2) == 4096  # before the first logged, within a period
    assert out.cycle_at_ns(10**9 + 10 * step) == 99_840  # none within a period: the estimate, snapped


def test_system_clock_runs_fix_the_offset_at_the_start():
    out = SimpleNamespace(frame_at_ns=lambda t: 1234.0)
    clock = SimpleNamespace(ctl=None, running=True, origin_ns=5)
    m = RunMapping(out, clock)
    assert m.frame(100.0) == 1334 and m.D == 1234.0


def test_the_clock_bench_names_where_the_beats_offset_settles():
    """``studio bench transport``'s ``clock_offset_steps``: a lone beat hit by an xrun is no step;
    a period early for a while and back are two."""
    import numpy as np

    from studio.bench.transport import _offset_steps

    times = np.arange(40) * 0.5
    offsets = np.zeros(40)
    offsets[7] = 12.0  # one beat hit by an xrun
    offsets[20:30] = -5.33
    assert _offset_steps(times, offsets) == [[0.0, 0.0], [10.0, -5.33], [15.0, 0.0]]
