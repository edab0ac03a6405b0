"""What the app does with the video's body keypoints (``studio pose`` writes them beside the video):
the people drawn in the preview (pick the player), Edit › Separate Player (``studio.separate``, the
core of ``studio separate``: the player's track and the residual as one undo step) and the
timeline's Motion sections lane (``studio.motion_sections``, the core of ``analyze --sections``).
Reading the keypoints and computing the sections run on the workers, never on the GUI thread."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject

from ui import undo

NO_KEYPOINTS = ("{video} has no keypoints: run `studio pose {path}` first (it writes {video}.keypoints.json "
                "beside the video), then open the project again")


def load_people(video: Path, width: int, height: int, job=None):
    """(worker) The people of the video's keypoints (studio.separate.PeopleInView), or None."""
    from studio.separate import people_in_view

    return people_in_view(video, width, height)


def load_sections(project, job=None):
    """(worker) The motion sections of the project's video, or None without keypoints."""
    from studio.motion_sections import project_sections

    found = project_sections(project, job)
    return None if found is None else found[1]


def separate(video: Path, person: int, keypoints: Path, assets: Path, job=None):
    """(worker) ``studio.separate.separate_video`` into the project's assets folder. The WAVs of
    an earlier separation of this person are written over: the tracks that play them (if the user
    kept them) get the same sound again."""
    from studio.separate import separate_video

    assets.mkdir(parents=True, exist_ok=True)
    return separate_video(video, person, keypoints=str(keypoints), out_dir=assets, overwrite=True, job=job)


class KeypointCommands(QObject):
    """Separate Player and the keypoints-driven views of a main window."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.doc, self.controller, self.workers = window.doc, window.controller, window.workers
        self.act_separate = window.action(
            "Separate Player", self.separate, "Ctrl+Shift+E", None,
            "Separate the chosen player's sound from the video's audio: adds the player's track and one "
            "without them (needs the video's keypoints: studio pose VIDEO)")
        window.preview.context_actions.append(self.act_separate)
        self.doc.projectReset.connect(self._load)
        self._jobs = []  # the loading jobs of the project shown (cancelled when another opens)

    @property
    def preview(self):
        return self.window.preview

    def _load(self) -> None:
        """People and motion sections of the video just opened (nothing without keypoints)."""
        for h in self._jobs:
            h.cancel()
        self._jobs = []
        project = self.doc.project
        self.act_separate.setEnabled(project is not None and project.video is not None)
        video = self.doc.video_path
        if project is None or video is None or not video.exists():
            return
        from studio.generate import snapshot

        v = project.video
        people = self.workers.submit("finding the people", load_people, video, v.width, v.height)
        people.finished.connect(lambda found: self.doc.project is project and self.preview.set_people(found))
        people.failed.connect(lambda msg: self.window.statusBar().showMessage(f"keypoints: {msg}", 8000))
        sections = self.workers.submit("motion sections", load_sections, snapshot(project))
        sections.finished.connect(lambda found: self.doc.project is project
                                  and self.window.timeline.canvas.set_motion_sections(found))
        sections.failed.connect(lambda msg: self.window.statusBar().showMessage(f"motion sections: {msg}", 8000))
        self._jobs = [people, sections]
        for h in self._jobs:
            h.ended.connect(lambda h=h: h in self._jobs and self._jobs.remove(h))

    def separate(self) -> None:
        """Edit › Separate Player: the chosen person of the preview, in the background."""
        doc, title = self.doc, "Separate player"
        project = doc.project
        if project is None or project.video is None:
            self.controller.error.emit(title, "open a video first")
            return
        people = self.preview.people
        if people is None:
            video = doc.video_path
            self.controller.error.emit(title, NO_KEYPOINTS.format(video=video.name, path=video))
            return
        person = self.preview.person
        self.controller.run_job(f"separating person {person}", separate, doc.video_path, person, people.keypoints,
                                project.assets_dir, title=title,
                                on_done=lambda result: self._separated(project, result))

    def _separated(self, project, result) -> None:
        """The player's track and the residual added (the original audio muted) as one step."""
        from studio.separate import separated_tracks, with_separated

        doc = self.doc
        if doc.project is not project:
            self.controller.info.emit("another project was opened while separating: the tracks are dropped")
            return
        tracks = separated_tracks(project, result)
        before = list(project.tracks)
        doc.undo_stack.push(undo.SetTracks(doc, before, with_separated(before, tracks),
                                           f"Separate person {result.person}"))
        self.controller.info.emit(f"separated person {result.person}: added {', '.join(t.name for t in tracks)}"
                                  " (the original audio is muted: the two play it together)")
