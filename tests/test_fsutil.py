import pytest

from studio.errors import ExportError
from studio.fsutil import atomic_open, write_text_atomic


def test_failure_inside_block_keeps_old_file_and_no_temp(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(target) as fh:
            fh.write("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_overwrite_refused_and_missing_folder_explained(tmp_path):
    target = tmp_path / "a.txt"
    write_text_atomic(target, "one")
    with pytest.raises(ExportError, match="already exists"):
        write_text_atomic(target, "two", overwrite=False)
    assert target.read_text() == "one"
    write_text_atomic(target, "two")
    assert target.read_text() == "two"
    with pytest.raises(ExportError, match="does not exist"):
        write_text_atomic(tmp_path / "no" / "b.txt", "x")


def test_atomic_writes_get_a_normal_file_mode_not_mkstemps_private_one(tmp_path, monkeypatch):
    import stat

    import studio.fsutil as fsutil

    monkeypatch.setattr(fsutil, "_UMASK", 0o022)  # the umask as read at import
    target = tmp_path / "report.json"
    fsutil.write_text_atomic(target, "{}")
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    target.chmod(0o640)  # a replaced file keeps its mode
    fsutil.write_text_atomic(target, "[]")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640 and target.read_text() == "[]"
