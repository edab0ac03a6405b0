"""The engines that read only the analysis run at once (``studio.generate._run_adapters``):
their tracks, warnings and errors are the ones a run in order gives."""
from __future__ import annotations

import dataclasses
import functools
import threading

import pytest

import rhythm_fixtures as rf
from studio import generate as gen
from studio.analysis import analyze
from studio.errors import StudioError
from studio.generate import GenerateSettings
from studio.project import Track, TrackKind, new_project_for_video


def runs_beside(settings) -> bool:
    """The fake adapters of this module (plain functions) say they may run at once, as rhythm,
    Foley and the soundtrack do; a ``functools.partial`` has no module, so it runs in order."""
    return True


@pytest.fixture(scope="module")
def ball(tmp_path_factory):
    d = tmp_path_factory.mktemp("beside")
    rf.bouncing_ball_video(d / "ball.mp4", fps=30, duration_s=4.0)
    return analyze(d / "ball.mp4", use_cache=False), new_project_for_video(d / "ball.mp4", d / "project.json")


def _plan(ball, engines=("rhythm", "foley", "soundtrack"), **options):
    tl, project = ball
    return gen.plan(project, engines, GenerateSettings(engines=engines, seed=5, options=options), timeline=tl)


def test_the_engines_that_say_so_run_at_once_and_their_tracks_land_in_plan_order(ball):
    """The first two wait for each other (a barrier a run in order would break); the second
    ends first, yet its track comes after the first's; the third, which does not say so, runs
    after both with their tracks on the project, as spatial reads them."""
    meet = threading.Barrier(2, timeout=30)
    second_done = threading.Event()
    seen = []

    def first(project, timeline, settings, job):
        meet.wait()
        assert second_done.wait(30)
        return [Track("A", TrackKind.MIDI)]

    def second(project, timeline, settings, job):
        meet.wait()
        second_done.set()
        return [Track("B", TrackKind.MIDI)]

    def after(project, timeline, settings, job):
        seen.append([t.name for t in project.tracks])
        return [Track("C", TrackKind.MIDI)]
    plan = _plan(ball)
    plan = dataclasses.replace(plan, adapters=(("rhythm", first), ("foley", second),
                                               ("soundtrack", functools.partial(after))))
    assert gen._beside(plan) == {"rhythm", "foley"}
    result = gen.run(plan)
    assert [t.name for t in result.new_tracks] == ["A", "B", "C"]
    assert [t.engine for t in result.new_tracks] == ["rhythm", "foley", "soundtrack"]
    assert seen == [["A", "B"]]


def test_the_first_error_in_plan_order_is_raised_after_the_others_end(ball):
    """Both fail; the first's error is raised, as in order, and only once the second has ended
    (no engine is left running behind a failed run)."""
    meet = threading.Barrier(2, timeout=30)
    ended = []

    def first(project, timeline, settings, job):
        meet.wait()
        raise StudioError("the first engine failed")

    def second(project, timeline, settings, job):
        meet.wait()
        threading.Event().wait(0.3)
        ended.append(True)
        raise StudioError("the second engine failed")
    plan = dataclasses.replace(_plan(ball, ("rhythm", "foley")), adapters=(("rhythm", first), ("foley", second)))
    with pytest.raises(StudioError, match="first engine"):
        gen.run(plan)
    assert ended == [True]


def test_the_real_engines_make_the_same_tracks_at_once_as_in_order(ball, monkeypatch):
    """Rhythm, Foley and the soundtrack on the bouncing ball: every field of every track (but
    the soundtrack's random ids) equals a run in order."""
    plan = _plan(ball)
    assert gen._beside(plan) == {"rhythm", "foley", "soundtrack"}
    together = gen.run(plan)
    monkeypatch.setattr(gen, "_beside", lambda plan: set())
    in_order = gen.run(_plan(ball))

    def fields(result):
        return [{k: v for k, v in dataclasses.asdict(t).items() if k != "id"} for t in result.new_tracks]
    assert [t.name for t in together.new_tracks] == [t.name for t in in_order.new_tracks]
    assert {t.engine for t in together.new_tracks} == {"rhythm", "foley", "soundtrack"}
    assert fields(together) == fields(in_order)
    assert together.warnings == in_order.warnings


def test_the_motion_sections_keep_rhythm_and_soundtrack_in_order(ball):
    """With ``motion_sections`` both read the player's keypoints, made once: they run in turn,
    Foley alone does not make a pair."""
    assert gen._beside(_plan(ball, motion_sections=True)) == set()
    assert gen._beside(_plan(ball, ("rhythm", "soundtrack"))) == {"rhythm", "soundtrack"}
