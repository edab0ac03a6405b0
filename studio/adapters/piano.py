"""Piano adapter (Audeo): a top-down video of a keyboard -> a Piano MIDI track (GM piano).

Settings: ``settings.options["keyboard_box"]``: a rough box ``(x, y, w, h)`` around the keyboard
in display pixels of the video, as the user drew it; the engine locates the keyboard's exact
corners inside it (default: the keyboard is found in the whole picture). The track's settings
keep the corners used (``keyboard``) and the drawn box.

Frames are decoded in grey (the engine works on luminance) on a uniform grid at the video's
frame rate, so a variable-frame-rate file gives the frame times the engine's roll assumes; only
the rectified keyboard strips are kept, not the frames.
"""
from __future__ import annotations

from studio.errors import StudioError
from studio.jobs import Job
from studio.music import Note
from studio.project import Project, Track, TrackKind

# engine metadata (studio.adapters: read from this source without importing it)
ORDER = 40
ON_REQUEST = True  # needs a keyboard seen from above
LABEL = "Piano (from the keys)"
HELP = "piano MIDI transcribed from a top-down video of the keyboard"
# it makes parts the synth plays: generate loads the default soundfonts beside the engines
MAKES_PARTS = True
CLI_ARGS = (
    ("--keyboard", "keyboard_box", {"type": "box", "metavar": "X,Y,W,H",
                                    "help": "piano: a rough box around the keyboard in video pixels "
                                            "(default: found in the picture)"}),
)

TRACK_ID = "piano"
PIANO_CHANNEL = 3  # rhythm parts use 1 (bass), 2 (keys) and 9 (drums)
DEFAULT_FPS = 30.0


def keyboard_box(options: dict, width: int, height: int):
    """The user's box as the engine's KeyboardBox (None: locate it), checked against the frame."""
    from engines.piano.keyboard import KeyboardBox

    box = (options or {}).get("keyboard_box")
    if box is None:
        return None
    try:
        x, y, w, h = (float(v) for v in box)
    except (TypeError, ValueError):
        raise StudioError(f"keyboard box {box!r} is not (x, y, width, height)") from None
    if w < 16 or h < 4 or x < 0 or y < 0 or x + w > width + 1 or y + h > height + 1:
        raise StudioError(f"keyboard box {x:g},{y:g},{w:g},{h:g} is not inside the {width}x{height} "
                          "picture (or smaller than 16x4 pixels)")
    return KeyboardBox.from_rect(x, y, w, h)


def check(project: Project, settings) -> None:
    if project.video is None:
        raise StudioError("the piano engine needs the project's video")
    keyboard_box(settings.options, project.video.width, project.video.height)


def generate(project: Project, timeline, settings, job: Job | None = None) -> list[Track]:
    from engines.piano.infer import Transcriber
    from studio import media

    job = Job.quiet(job)
    check(project, settings)
    clip = project.video
    video = project.resolve(clip.path)
    box = keyboard_box(settings.options, clip.width, clip.height)
    fps = clip.fps if clip.fps > 0 else DEFAULT_FPS
    total = max(1, int(clip.duration_s * fps))
    job.report(0.0, "piano: finding the keyboard" if box is None else "piano: reading the keyboard")

    def frames():
        for i, frame in enumerate(media.iter_frames(video, pixel_format="gray", rate_hz=fps)):
            if i % 32 == 0:  # progress, and Cancel between batches of frames
                job.report(min(0.99, i / total), "piano: transcribing")
            yield frame.image

    result = Transcriber(box).transcribe(frames(), fps)
    notes = [Note(float(n.start_s), float(n.dur_s), int(n.pitch), int(n.velocity), PIANO_CHANNEL)
             for n in result.notes]
    provenance = {"keyboard": [[round(float(v), 1) for v in pt] for pt in result.box.corners],
                  "keyboard_from": "found" if box is None else "drawn"}
    if box is not None:
        provenance["keyboard_box"] = list(settings.options["keyboard_box"])
    job.report(1.0, f"piano: {len(notes)} notes")
    return [Track("Piano", TrackKind.MIDI, id=TRACK_ID, notes=notes, program=0, channel=PIANO_CHANNEL,
                  engine="piano", settings=provenance)]
