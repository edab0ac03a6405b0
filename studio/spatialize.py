"""``studio spatialize``: place a project's tracks in a room and re-export binaural stems and mix.

All or nothing (``studio.transaction``): the project's folder and every folder written in are
locked before any work (a second writer gets a "busy" error at once); the stems, the mix and
the updated ``project.json`` are staged beside their targets and renamed into place together,
``project.json`` last. A failed export (a damaged HRIR model, a full disk, a mix path that is a
folder, a cancel, a kill) leaves the project and its earlier exports exactly as they were.
"""
from __future__ import annotations

from pathlib import Path

from studio.errors import StudioError
from studio.jobs import Job
from studio.transaction import Transaction


def spatialize(project_path: str | Path, room: str, tracks: list[str] | None = None, *, stems=None, mix=None,
               job: Job | None = None, **export_options):
    """Returns ``(project, placed track names, room, ExportReport)``; ``export_options`` go to
    ``export_project``."""
    from studio.exporting import export_project
    from studio import adapters
    from studio.project import Project

    if not adapters.present("spatial"):
        raise StudioError("the spatial engine is not part of this build")
    spatial = adapters.load("spatial")
    room_name = spatial.check_room(room)  # an unknown room fails before any work
    path = Path(project_path)
    folder = path if path.is_dir() else path.parent
    stems = Path(stems) if stems else folder / "stems"
    mix = Path(mix) if mix else folder / "mix.wav"
    folders = [folder, stems if stems.is_dir() else stems.parent]
    if mix.parent.is_dir():
        folders.append(mix.parent)
    with Transaction([f for f in folders if f.is_dir()]) as txn:
        project = Project.load(path)  # read under the lock: no writer is half-way through it
        placed = spatial.spatialize_project(project, room, tracks or None)
        report = export_project(project, stems_dir=stems, mix_path=mix, overwrite=True, job=job,
                                transaction=txn, **export_options)
        target = project.path
        project.save(txn.stage(target, last=True))
        project.path = target
        txn.commit()
    return project, placed, room_name, report
