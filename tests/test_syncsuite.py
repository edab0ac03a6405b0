"""The sync benchmark's clip generator (studio.syncsuite): its truth must be exact.

The pictures are checked against the truth from their pixels (the ball's lowest pixel on the
floor line at each contact time, a foot down on each beat, a stick tip on the drum head), and
the encoded files decode with the right rate, frame count and frame times.
"""
from __future__ import annotations

import json
import re

import av
import numpy as np
import pytest

from studio import syncsuite as ss

SUITE = ss.default_suite()
QUICK = ss.default_suite(quick=True)
BY_NAME = {s.name: s for s in SUITE}


def _mask(img: np.ndarray, colour, tol: float) -> np.ndarray:
    return np.linalg.norm(img.astype(np.float32) - np.asarray(colour, np.float32), axis=2) < tol


def _background(scene, t: float) -> np.ndarray:
    """The picture at t without the moving objects (the camera's view of the world)."""
    if hasattr(scene, "shot1"):
        scene = scene.shot2 if t >= scene.cut_s - 1e-9 else scene.shot1
    return scene.cam.render_background(scene.world, t)


def _alpha(img: np.ndarray, bg: np.ndarray, colour) -> np.ndarray:
    """How much of each pixel an object of ``colour`` covers, painted over ``bg``."""
    d = img.astype(np.float64) - bg
    c = np.asarray(colour, np.float64) - bg
    return np.clip((d * c).sum(axis=-1) / np.maximum((c * c).sum(axis=-1), 1.0), 0.0, 1.0)


def _bottom_edge(alpha_col: np.ndarray) -> float:
    """Sub-pixel y of the lowest edge of a shape from its coverage along one pixel column
    (pixel centres at integer y)."""
    rows = np.flatnonzero(alpha_col > 0.03)
    assert len(rows), "shape not found in the picture"
    last = int(rows[-1])
    assert last == 0 or alpha_col[last - 1] > 0.9 or alpha_col[last] > 0.9, alpha_col[last - 3:last + 2]
    return last - 0.5 + float(alpha_col[last])


def _floor_top(img: np.ndarray, line_colour) -> float:
    """Sub-pixel y of the top edge of the bright floor line (row medians, so objects in front
    of a few columns do not matter)."""
    lum = np.median(img.astype(np.float64).mean(axis=2), axis=1)
    line = float(np.mean(line_colour))
    full = np.flatnonzero(lum > line - 0.1 * (line - np.median(lum)))
    assert len(full), "no floor line in the picture"
    i0 = int(full[0])
    wall = float(np.median(lum[max(0, i0 - 10):i0 - 3]))
    partial = np.clip((lum[i0 - 3:i0] - wall) / (line - wall), 0.0, 1.0)
    partial[partial < 0.04] = 0.0
    return i0 - 0.5 - float(partial.sum())


# ----------------------------------------------------------------------------- the suite


def test_default_suite_covers_what_the_benchmark_needs():
    assert 32 <= len(SUITE) <= 40
    names = [s.name for s in SUITE]
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", n) for n in names)
    kinds = [s.kind for s in SUITE]
    assert kinds.count("multi") >= 3
    assert 3 <= kinds.count("dancer") <= 4 and 3 <= kinds.count("drummer") <= 4
    assert 2 <= kinds.count("cutshots") <= 3
    assert {24.0, 25.0, 30.0, 60.0} <= {s.fps for s in SUITE}
    bpms = sorted({s.bpm for s in SUITE})
    assert bpms[0] <= 60 and bpms[-1] >= 180 and len(bpms) >= 12
    assert any(b % 10 for b in bpms)  # not only round numbers
    assert all(12.0 <= s.duration_s <= 16.0 for s in SUITE)
    for field in ("drift", "pan", "zoom", "noise", "rubato"):
        assert sum(getattr(s, field) > 0 for s in SUITE) >= 2, field
    for s in SUITE:
        if s.noise:
            assert 8 <= s.noise <= 12 and 32 <= s.crf <= 34
        if s.rubato:
            assert 0.02 <= s.rubato <= 0.04
    modes = {ss.clip_truth(s).details["second_ball"] for s in SUITE if s.kind == "multi"}
    assert modes == {"half", "offbeat"}


def test_quick_suite_is_short_and_covers_each_kind():
    assert 5 <= len(QUICK) <= 7
    assert all(s.duration_s == 8.0 for s in QUICK)
    assert {"bounce", "multi", "dancer", "drummer"} <= {s.kind for s in QUICK}
    assert any(s.drift for s in QUICK) and any(s.pan for s in QUICK)


def test_spec_validation():
    with pytest.raises(ValueError):
        ss.ClipSpec("a b", "bounce", 120, 30)
    with pytest.raises(ValueError):
        ss.ClipSpec("x", "juggler", 120, 30)
    with pytest.raises(ValueError):
        ss.ClipSpec("x", "bounce", 120, 30, size=(321, 180))
    spec = ss.ClipSpec("x", "bounce", 120, 29.97, duration_s=10.0)
    assert spec.rate == ss.frame_rate(29.97) and spec.rate.denominator == 1001
    assert spec.frame_count == 300 and spec.frame_time(1) == pytest.approx(1001 / 30000, abs=1e-12)
    assert ss.ClipSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


# ----------------------------------------------------------------------------- truth


@pytest.mark.parametrize("spec", SUITE, ids=lambda s: s.name)
def test_truth_is_self_consistent(spec):
    truth = ss.clip_truth(spec)
    last = spec.frame_time(spec.frame_count - 1)
    beats, contacts = truth.beat_times_s, truth.contact_times_s
    assert len(beats) >= 8
    assert np.all(np.diff(beats) > 0) and np.all(np.diff(contacts) >= 0)
    assert beats[0] >= 0.3 - 1e-9 and contacts[-1] <= last + 1e-9
    assert np.all(np.isin(np.round(beats, 9), np.round(contacts, 9)))
    assert truth.tempo_bpm == pytest.approx(60.0 / np.median(np.diff(beats)))
    period = 60.0 / spec.bpm
    if spec.kind != "cutshots":
        assert beats[0] <= 1.0 + 1e-9
        assert truth.shot_tempi_bpm == (truth.tempo_bpm,) and len(truth.cut_times_s) == 0
        iv = np.diff(beats)
        assert np.all(np.abs(iv / period - 1.0) <= spec.rubato + 1e-9)
        if spec.rubato:
            assert np.ptp(iv) > period * spec.rubato  # the modulation is really there
    else:
        (cut,) = truth.cut_times_s
        assert spec.duration_s / 3 - 0.05 <= cut <= 2 * spec.duration_s / 3
        assert cut * spec.rate == pytest.approx(round(cut * spec.rate), abs=1e-6)  # a frame time
        t1, t2 = truth.shot_tempi_bpm
        assert t1 == pytest.approx(spec.bpm) and t2 / t1 == pytest.approx(1.25) or t2 / t1 == pytest.approx(0.8)
        before, after = beats[beats < cut], beats[beats >= cut]
        assert len(before) >= 4 and len(after) >= 4
        assert np.median(np.diff(after)) == pytest.approx(60.0 / t2)
        assert np.min(np.abs(beats - cut)) >= 0.1
    if spec.kind == "multi":
        second = np.asarray(truth.details["second_ball_contacts_s"])
        if truth.details["second_ball"] == "half":
            assert np.all(np.min(np.abs(second[:, None] - beats[None, :]), axis=1) < 1e-5)
            assert np.all(np.abs(np.diff(second) / (2 * period) - 1.0) <= spec.rubato + 1e-5)
        else:  # half-way between main contacts (the next one may fall after the clip's end)
            main = ss.make_scene(spec).main.contacts
            mids = 0.5 * (main[:-1] + main[1:])
            assert np.all(np.min(np.abs(second[:, None] - mids[None, :]), axis=1) < 1e-5)
        assert len(contacts) == len(beats) + len(second)
    if spec.kind == "drummer":
        cym = np.asarray(truth.details["cymbal_times_s"])
        assert len(cym) >= 2 and len(contacts) == len(beats) + len(cym)
        mids = 0.5 * (beats[:-1] + beats[1:])
        assert np.all(np.min(np.abs(cym[:, None] - mids[None, :]), axis=1) < 1e-5)
    if spec.kind in ("bounce", "dancer", "cutshots"):
        assert len(contacts) == len(beats)
    d = json.loads(json.dumps(truth.to_dict()))
    back = ss.SyncTruth.from_dict(d)
    assert back.spec == spec and np.allclose(back.beat_times_s, beats, atol=1e-6)


def test_truth_and_pictures_are_deterministic():
    spec = BY_NAME["multi-120bpm-25fps-drift"]
    a, b = ss.clip_truth(spec), ss.clip_truth(spec)
    assert np.array_equal(a.contact_times_s, b.contact_times_s) and a.details == b.details
    assert np.array_equal(ss.make_scene(spec).draw(3.3), ss.make_scene(spec).draw(3.3))


# ----------------------------------------------------------------------------- pictures


@pytest.mark.parametrize("name", ["bounce-120bpm-30fps", "bounce-78bpm-24fps-drift", "bounce-90bpm-24fps-pan-zoom",
                                  "bounce-104bpm-30fps-rubato", "multi-100bpm-30fps", "multi-120bpm-25fps-drift",
                                  "cutshots-128bpm-25fps-pan"])
def test_ball_touches_the_floor_exactly_at_each_contact(name):
    spec = BY_NAME[name]
    scene = ss.make_scene(spec)
    truth = scene.make_truth()
    shots = [scene] if spec.kind != "cutshots" else [scene.shot1, scene.shot2]
    h = spec.size[1]
    checked = 0
    for shot in shots:
        for ball in shot.balls:
            own = ball.contacts[np.isin(np.round(ball.contacts, 9), np.round(truth.contact_times_s, 9))]
            for c in own[:6]:
                c = float(c)
                img = scene.draw(c)
                floor = _floor_top(img, shot.pal["line"])
                x = shot.cam.view(c).p(*ball.position(c))[0]
                col = _alpha(img, _background(scene, c), ball.colour)[:, int(round(x))]
                assert abs(_bottom_edge(col) - floor) <= 0.3, (c, ball.colour, _bottom_edge(col), floor)
                nxt = float(ball.contacts[np.searchsorted(ball.contacts, c) + 1])
                m = 0.5 * (c + nxt)  # the apex: well above the floor
                mid = scene.draw(m)
                x = shot.cam.view(m).p(*ball.position(m))[0]
                col = _alpha(mid, _background(scene, m), ball.colour)[:, int(round(x))]
                lowest = np.flatnonzero(col > 0.5)[-1]  # (the distractor may pass behind it)
                assert _floor_top(mid, shot.pal["line"]) - lowest > 0.25 * h
                checked += 1
    assert checked >= 6
    # before the first contact the ball falls from rest at t = 0
    first = truth.contact_times_s[0]
    if spec.kind != "cutshots":
        y0, y1 = scene.main.position(0.0)[1], scene.main.position(1e-3)[1]
        assert abs(y1 - y0) < 1e-3 and scene.main.height(0.0) > 0.3 * h and first > 0.3 - 1e-9


def test_cut_is_a_hard_change_of_picture():
    spec = BY_NAME["cutshots-100bpm-30fps"]
    scene = ss.make_scene(spec)
    (cut,) = scene.make_truth().cut_times_s
    f = 1.0 / float(spec.rate)
    before, at, after = (scene.draw(cut - f).astype(float), scene.draw(cut).astype(float),
                         scene.draw(cut + f).astype(float))
    assert np.abs(at - before).mean() > 5 * np.abs(after - at).mean()


def test_dancer_plants_a_foot_on_each_beat():
    spec = BY_NAME["dancer-120bpm-25fps-pan"]
    scene = ss.make_scene(spec)
    truth = scene.make_truth()
    period = 60.0 / spec.bpm
    first = truth.details["feet"][0]
    for k, b in enumerate(truth.beat_times_s[:8]):
        side = truth.details["feet"][k]
        assert side == ({"L": "R", "R": "L"}[first] if k % 2 else first)  # alternating feet
        key = "ankle_" + side
        y = lambda t: scene.pose(t)[key][1]  # noqa: E731
        assert y(b) == pytest.approx(scene.floor_y - scene.th / 2.0)
        assert y(b - 0.3 * period) < y(b) - 0.05 * spec.size[1]  # lifted before
        v_in = (y(b) - y(b - 1e-3)) / 1e-3
        v_out = (y(b + 1e-3) - y(b)) / 1e-3
        assert v_in > 0.5 * spec.size[1] and v_out == pytest.approx(0.0, abs=1e-6)  # stops abruptly
        hip = lambda t: scene.pose(t)["hip"][1]  # noqa: E731
        assert hip(b) > hip(b - 0.2 * period) and hip(b) > hip(b + 0.2 * period)  # lowest at the plant
        # in the picture: that foot's lowest pixel is on the floor line at the beat, above it before
        for t, lifted in ((b, False), (b - 0.3 * period, True)):
            t = float(t)
            img = scene.draw(t)
            ankle = scene.pose(t)[key]
            x = scene.cam.view(t).p(ankle[0] + 0.5 * scene.toe * (1 if side == "R" else -1), ankle[1])[0]
            col = _alpha(img, _background(scene, t), scene.colour)[:, int(round(x))]
            gap = _floor_top(img, scene.pal["line"]) - _bottom_edge(col)
            assert (gap > 5) if lifted else (abs(gap) <= 0.3), (k, t, gap)


def test_drummer_sticks_hit_and_rebound():
    spec = BY_NAME["drummer-100bpm-30fps"]
    scene = ss.make_scene(spec)
    truth = scene.make_truth()
    period = 60.0 / spec.bpm
    for k, b in enumerate(truth.beat_times_s[:8]):
        hand = "L" if k % 2 == 0 else "R"
        assert truth.details["drum_hands"][k] == hand
        tip = lambda t: scene.tip(hand, t)[0]  # noqa: E731
        assert np.allclose(tip(b), scene.targets["drum_" + hand], atol=1e-9)
        assert (tip(b)[1] - tip(b - 1e-3)[1]) / 1e-3 > 0.3 * spec.size[1]  # coming down fast
        assert (tip(b + 1e-3)[1] - tip(b)[1]) / 1e-3 < -0.3 * spec.size[1]  # rebounding up
        other = "R" if hand == "L" else "L"
        assert np.linalg.norm(np.subtract(scene.tip(other, b)[0], scene.targets["drum_" + other])) > 3
        # in the picture: stick pixels at the target at the hit, none there a moment before
        target = np.asarray(scene.targets["drum_" + hand])
        for t, present in ((b, True), (b - 0.3 * period, False)):
            img = scene.draw(float(t))
            ys, xs = np.nonzero(_mask(img, scene.stick_colour, 45.0))
            near = np.hypot(xs + 0.5 - target[0], ys + 0.5 - target[1]).min()
            assert (near < 2.5) if present else (near > 4.0), (k, t, near)
    for c in truth.details["cymbal_times_s"][:4]:
        assert np.allclose(scene.tip("R", c)[0], scene.targets["cymbal"], atol=1e-9)
        assert scene.cymbal_angle(c + 0.05) != pytest.approx(scene.cymbal_angle(c - 0.01))  # it rings


# ----------------------------------------------------------------------------- files


@pytest.mark.parametrize("fps", [29.97, 25.0])
def test_rendered_clip_decodes_with_exact_frame_times(tmp_path, fps):
    spec = ss.ClipSpec(f"check-{fps:g}", "bounce", 100.0, fps, duration_s=3.0, pan=0.1, zoom=0.1, seed=5)
    truth = ss.render_clip(spec, tmp_path / "c.mp4")
    assert [p.name for p in tmp_path.iterdir()] == ["c.mp4"]  # no temporary file left behind
    assert np.array_equal(truth.beat_times_s, ss.clip_truth(spec).beat_times_s)
    with av.open(str(tmp_path / "c.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
        assert (stream.width, stream.height) == spec.size
        assert stream.average_rate == spec.rate
        frames = [(f.time, f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
    assert len(frames) == spec.frame_count == round(3.0 * fps)
    times = np.array([t for t, _ in frames])
    assert np.abs(times - np.arange(len(frames)) / float(spec.rate)).max() < 1e-6
    # each decoded picture is the one drawn at its own time (not a neighbour's)
    scene = ss.make_scene(spec)
    b = truth.beat_times_s[1]
    i = int(round((b - 0.25 * 60.0 / spec.bpm) * float(spec.rate)))  # mid-fall: fast motion
    got = frames[i][1].astype(float)
    errs = [np.abs(got - scene.draw(spec.frame_time(j))).mean() for j in (i - 1, i, i + 1)]
    assert errs[1] < 0.7 * min(errs[0], errs[2]), errs


def test_noise_is_added_per_frame(tmp_path):
    spec = ss.ClipSpec("noisy", "bounce", 120.0, 24, duration_s=2.0, noise=10.0, crf=33, seed=3)
    frames = list(ss.frames(spec))
    clean = ss.make_scene(spec).draw(0.0).astype(float)
    resid = frames[0][1].astype(float) - clean
    assert 7.0 < resid.std() < 12.0
    assert np.abs(frames[1][1].astype(float) - frames[0][1].astype(float)).mean() > 3.0  # fresh noise
    ss.render_clip(spec, tmp_path / "n.mp4")
    with av.open(str(tmp_path / "n.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 48


def test_cli_writes_clip_and_truth(tmp_path, capsys):
    assert ss.main(["--out", str(tmp_path), "--quick", "--only", "dancer", "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    (spec,) = [s for s in QUICK if s.kind == "dancer"]
    assert spec.name in out
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{spec.name}.mp4", f"{spec.name}.truth.json"]
    truth = ss.load_truth(tmp_path / f"{spec.name}.truth.json")
    assert truth.spec == spec
    assert np.allclose(truth.beat_times_s, ss.clip_truth(spec).beat_times_s, atol=1e-6)
    d = json.loads((tmp_path / f"{spec.name}.truth.json").read_text())
    assert d["frame_count"] == spec.frame_count and d["fps_exact"] == "24/1"
