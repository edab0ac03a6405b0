"""`studio live`: the rhythm engine driven by a playing video or a live stream, bar by bar."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mido
import numpy as np
import pytest

from rhythm_fixtures import beat_video
from studio.errors import MediaError
from studio.live import LiveSettings, is_live_source, run_live

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def beat_clip(tmp_path_factory):
    d = tmp_path_factory.mktemp("live")
    truth = beat_video(d / "beat120.mp4", 120.0, duration_s=9.0)
    return d / "beat120.mp4", truth


def _notes(path):
    """(time s, channel, pitch) of every note-on, timed through the file's own tempo map."""
    out, t = [], 0.0
    for msg in mido.MidiFile(str(path)):
        t += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            out.append((t, msg.channel, msg.note))
    return out


def test_file_source_plays_each_bar_from_its_own_frames_on_the_visual_beat(beat_clip, tmp_path):
    path, truth = beat_clip
    rec = tmp_path / "live.mid"
    report = run_live(str(path), LiveSettings(style="rock", seed=2, music=False), record_path=rec)
    s = report.summary()
    assert s["mode"] == "look-ahead" and s["late_bars"] == 0 and s["bars"] >= 3
    assert abs(report.tempo_bpm - truth.bpm) / truth.bpm < 0.04  # tempo from the motion itself
    notes = _notes(rec)
    assert len(notes) == report.notes_sent > 0
    kicks_snares = np.array([t for t, ch, p in notes if ch == 9 and p in (36, 38)])
    # bars start on a visual beat: kick/snare hits sit on the true beats (file times, 50 ms)
    err = np.abs(kicks_snares[:, None] - truth.beat_times_s[None, :]).min(axis=1)
    on_beat = float(np.mean(err < 0.05))
    assert on_beat >= 0.5, (on_beat, kicks_snares)
    assert np.abs(truth.beat_times_s - report.first_bar_s).min() < 0.05  # bar 1 starts on a visual beat
    assert s["bar_latency_p99_ms"] is not None and s["midi_send_error_p50_ms"] < 5.0


def test_stream_on_stdin_is_causal_and_never_late(beat_clip, tmp_path):
    path, _ = beat_clip
    assert is_live_source("-") and is_live_source("/dev/video0") and is_live_source("rtsp://cam/1")
    assert not is_live_source(str(path))
    rec = tmp_path / "cam.mid"
    with open(path, "rb") as stdin:
        r = subprocess.run([sys.executable, "-m", "studio", "-q", "live", "-", "--no-midi", "--bpm", "120",
                            "--warmup", "2", "--drums-only", "--record", str(rec)], stdin=stdin,
                           capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    # a pipe is decoded as fast as it arrives: bars are generated the moment their window closes,
    # which is before they are due; none may be late
    assert s["mode"] == "causal" and s["tempo_bpm"] == 120.0 and s["bars"] >= 2 and s["late_bars"] == 0
    assert rec.exists() and len(_notes(rec)) == s["notes_sent"]


def test_bad_sources_are_clear_errors(tmp_path):
    with pytest.raises(MediaError, match="does not exist"):
        run_live(str(tmp_path / "none.mp4"))
    short = beat_video(tmp_path / "short.mp4", 100.0, duration_s=1.0)
    with pytest.raises(MediaError, match="warm-up"):
        run_live(str(tmp_path / "short.mp4"), LiveSettings(warmup_s=3.0, music=False))
    r = subprocess.run([sys.executable, "-m", "studio", "-q", "live", "/dev/video9", "--no-midi"],
                       capture_output=True, text=True, cwd=REPO, timeout=60)
    assert r.returncode == 2 and r.stderr.startswith("studio: error:") and "/dev/video9" in r.stderr


def test_camera_paced_source_generates_each_bar_before_it_is_due(beat_clip):
    """A file paced to real time and treated as a camera: bar k+1 comes from the window that
    closes lead_s before it, so it is queued before its first step (never late)."""
    path, truth = beat_clip
    report = run_live(str(path), LiveSettings(bpm=120.0, warmup_s=2.0, causal=True, music=False, max_seconds=7.5))
    s = report.summary()
    assert s["mode"] == "causal" and s["bars"] >= 2 and s["late_bars"] == 0
    assert s["bar_slack_min_ms"] > 0 and s["notes_sent"] > 0
