"""The app's keypoint features, in the real window offscreen: pick a player in the preview (a click on
their box, or the Person chooser by keyboard), Edit › Separate Player adds the player's track and
the residual as one undo step (the core of `studio separate`), clear messages without keypoints or
audio, and the Motion sections lane shows the sections the motion engine finds in a known keypoint
file, with "Follow motion sections" offered in the Generate panel."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtGui import QHelpEvent
from PySide6.QtWidgets import QApplication, QToolTip

from test_ui_window import DEMO, open_and_analyse, window  # noqa: F401  (the window fixture)

_OP = {"nose": 0, "neck": 1, "r_shoulder": 2, "r_elbow": 3, "r_wrist": 4, "l_shoulder": 5, "l_elbow": 6,
       "l_wrist": 7, "r_hip": 9, "r_knee": 10, "r_ankle": 11, "l_hip": 12, "l_knee": 13, "l_ankle": 14}
SIZE = (320, 240)
X_OFFSETS = (80, 240)  # person 0 on the left, person 1 on the right (video pixels)


@pytest.fixture(scope="module")
def duet(tmp_path_factory):
    """A 4 s 320x240 video whose audio is a held-out two-player mixture, with an OpenPose file of
    both players beside it (VIDEO.keypoints.json, as `studio pose` would put it), in pixels."""
    import videogen
    from scipy.signal import resample_poly

    from engines.performer.keypoints import J, resample
    from engines.separate import data as D

    d = tmp_path_factory.mktemp("duet")
    srcs, _ = D.mixtures(1, 2)[0]
    x = sum(resample_poly(s.audio, 640, 147).astype(np.float32) for s in srcs)  # 11025 -> 48000 Hz
    video = videogen.write_video(d / "duet.mp4", lambda t: np.full((SIZE[1], SIZE[0], 3), 90, np.uint8),
                                 duration_s=4.0, fps=30, size=SIZE, audio=np.stack([x, x]), sample_rate=48000)
    people = [resample(s.kp, 30.0) for s in srcs]
    frames = []
    for i in range(min(kp.n_frames for kp in people)):
        ps = []
        for kp, x0 in zip(people, X_OFFSETS):
            body = np.zeros((25, 3))
            for name, j in _OP.items():
                body[j] = (*(kp.xy[i, J[name]] * 40 + (x0, 45)), 0.9)
            ps.append({"pose_keypoints_2d": body.ravel().tolist()})
        frames.append({"people": ps})
    (d / "duet.mp4.keypoints.json").write_text(json.dumps({"fps": 30.0, "frames": frames}))
    return video


@pytest.fixture(scope="module")
def dancer(tmp_path_factory):
    """A silent 15 s video with the keypoints of a player who waves, walks, then claps beside it
    (the motion engine's synthetic actions: changes at 5 s and 10 s): (video, keypoints, changes)."""
    import videogen

    from engines.motion import synth as S
    from engines.performer.keypoints import save_keypoints

    d = tmp_path_factory.mktemp("dancer")
    kp, bounds, _ = S.synthesize([("wave", 5.0), ("walk", 5.0), ("clap", 5.0)], 30.0, seed=77)
    video = videogen.write_video(d / "dancer.mp4", lambda t: np.full((120, 160, 3), 60, np.uint8),
                                 duration_s=15.0, fps=30, size=(160, 120))
    save_keypoints(d / "dancer.mp4.keypoints.json", kp)
    return video, d / "dancer.mp4.keypoints.json", bounds


def _open(w, qtbot, video):
    open_and_analyse(w, qtbot, video)
    qtbot.waitUntil(lambda: w.preview.image is not None and not w.keypoint_commands._jobs, timeout=30_000)


def test_pick_a_player_and_separate_with_undo(window, qtbot, duet):  # noqa: F811
    w, preview = window, window.preview
    _open(w, qtbot, duet)
    assert preview.people is not None and preview.people.count == 2
    assert preview.person_box.isVisible() and preview.person_box.count() == 2
    boxes = preview.person_boxes()
    assert boxes[0].center().x() < boxes[1].center().x()  # where the players are in the picture
    qtbot.mouseClick(preview, Qt.LeftButton, pos=boxes[1].center().toPoint())
    assert preview.person == 1 and preview.person_box.currentIndex() == 1
    preview.person_box.setFocus()
    qtbot.keyClick(preview.person_box, Qt.Key_Up)  # by keyboard: the chooser
    assert preview.person == 0
    qtbot.mouseClick(preview, Qt.LeftButton, pos=boxes[1].center().toPoint())
    assert preview.person == 1
    preview.grab()  # paints the boxes without error
    before = list(w.doc.project.tracks)
    assert [t.name for t in before] == ["Original audio"]
    steps = w.doc.undo_stack.count()
    w.act_separate.trigger()
    qtbot.waitUntil(lambda: len(w.doc.project.tracks) == 3 and not w.controller.busy, timeout=60_000)
    assert w.last_error is None
    tracks = w.doc.project.tracks
    assert [t.name for t in tracks] == ["Original audio", "Person 1 (separated)", "Without person 1"]
    assert tracks[0].mixer.mute and not before[0].mixer.mute  # the two new tracks play it together
    assert all(w.doc.project.resolve(t.audio_path).is_file() for t in tracks[1:])
    assert w.doc.undo_stack.count() == steps + 1  # one step
    w.act_undo.trigger()
    assert [t.name for t in w.doc.project.tracks] == ["Original audio"]
    assert not w.doc.project.tracks[0].mixer.mute
    w.act_redo.trigger()
    assert len(w.doc.project.tracks) == 3


def test_no_keypoints_says_what_to_run(window, qtbot):  # noqa: F811
    w = window
    _open(w, qtbot, DEMO)
    assert w.preview.people is None and not w.preview.person_box.isVisible()
    assert w.timeline.canvas.motion is None
    assert "motion" not in [lane.key for lane in w.timeline.canvas._lanes]
    before = list(w.doc.project.tracks)
    w.act_separate.trigger()
    assert "studio pose" in w.last_error and "demo.mp4" in w.last_error
    assert w.doc.project.tracks == before and not w.controller.busy  # nothing started


def test_motion_sections_lane_shows_the_cores_sections(window, qtbot, monkeypatch, dancer):  # noqa: F811
    from engines.motion.infer import MotionSections, boundary_f
    from engines.performer.keypoints import load_keypoints
    from studio import generate

    monkeypatch.setattr(generate, "ADAPTERS", {"rhythm": "test_ui_window:fake_rhythm",
                                               "soundtrack": "test_ui_window:fake_rhythm"})
    w = window
    video, kp_path, bounds = dancer
    _open(w, qtbot, video)
    canvas = w.timeline.canvas
    expected = [s.as_dict() for s in MotionSections().sections(load_keypoints(kp_path, fps=30.0))]
    assert boundary_f([s["start_s"] for s in expected[1:]], bounds, 0.5)[1] == 1.0  # the known changes
    assert canvas.motion == expected
    keys = [lane.key for lane in canvas._lanes]
    assert keys[:4] == ["ruler", "video", "analysis", "motion"]
    from ui.widgets.timeline import motion_lane

    lane = next(lane for lane in canvas._lanes if lane.key == "motion")
    img = canvas.grab().toImage()
    y = lane.top - canvas.v_offset + lane.height - 6  # the span's solid stripe at its foot
    for sec in expected:  # each section drawn in its label's colour where it is
        xs = range(int(canvas.scale.x_of(sec["start_s"])) + 3, int(canvas.scale.x_of(sec["end_s"])) - 3)
        seen = {img.pixelColor(x, y).name() for x in xs}
        assert motion_lane.label_colour(sec["label"]).name() in seen, (sec, seen)
    second = expected[1]
    x = int(canvas.scale.x_of(second["start_s"] + 0.3))
    pos = QPoint(x, lane.top - canvas.v_offset + lane.height // 2)
    QApplication.sendEvent(canvas, QHelpEvent(QEvent.ToolTip, pos, canvas.mapToGlobal(pos)))
    assert f"Motion section {second['label']}: {second['start_s']:.2f}" in QToolTip.text()
    # the Generate panel offers following them for the rhythm and the soundtrack
    w.show_generate()
    panel = w.generate_panel
    panel.checks["rhythm"].setChecked(True)
    assert not panel.motion_sections.isHidden()
    panel.motion_sections.setChecked(True)
    assert panel.settings()["motion_sections"] is True
    assert w.controller._settings(panel.settings()).options["motion_sections"] is True
    panel.checks["rhythm"].setChecked(False)
    assert panel.motion_sections.isHidden() and panel.settings()["motion_sections"] is None
    # no sound to separate: said plainly
    w.act_separate.trigger()
    qtbot.waitUntil(lambda: not w.controller.busy, timeout=30_000)
    assert "no audio" in w.last_error


def test_motion_sections_are_cached_for_the_project(tmp_path, dancer):
    from studio.motion_sections import CACHE_NAME, project_sections
    from studio.project import new_project_for_video

    project = new_project_for_video(dancer[0], tmp_path / "p" / "project.json")
    project.save()
    path, first = project_sections(project)
    assert path == dancer[1] and len(first) >= 3
    cache = tmp_path / "p" / "keypoints" / CACHE_NAME
    data = json.loads(cache.read_text())
    data["sections"][0]["label"] = "Z"  # read back, not computed again, while the keypoints are the same
    cache.write_text(json.dumps(data))
    assert project_sections(project)[1][0]["label"] == "Z"
    data["key"]["size"] += 1  # another keypoint file: computed again
    cache.write_text(json.dumps(data))
    assert project_sections(project)[1] == first


def test_people_in_view_reads_mediapipe_and_own_files(tmp_path, dancer):
    """Boxes in video pixels from MediaPipe's picture fractions; the studio's own normalised file
    has one person and no positions (no box to draw, the chooser still offers person 0)."""
    from studio.separate import people_in_view

    video = tmp_path / "clip.mp4"
    video.write_bytes(b"")  # only its name matters here: the keypoints are found beside it
    lm = [{"x": 0.4 + 0.2 * (i % 2), "y": 0.2 + 0.6 * (i / 32), "visibility": 0.9} for i in range(33)]
    frames = [{"pose_landmarks": lm}, None, {"pose_landmarks": lm}]
    (tmp_path / "clip.mp4.keypoints.json").write_text(json.dumps({"fps": 30, "frames": frames}))
    found = people_in_view(video, 320, 240)
    assert found.count == 1 and found.fps == 30
    x, y, w, h = found.at(0.0)[0]
    # the landmarks span x 0.4..0.6 (128..192 px), y 0.2..~0.71 down to the ankles: the box holds them, padded
    assert 100 < x < 128 and 192 < x + w < 220 and 0 < y < 48 and 168 < y + h < 200
    assert found.at(1 / 30) == [None]  # nobody seen in that frame
    own = people_in_view(dancer[0], 160, 120)
    assert own.count == 1 and own.boxes == [] and own.at(3.0) == [None]
    assert people_in_view(tmp_path / "other.mp4", 320, 240) is None
