"""File names made from user text, and outputs kept inside the folder the user chose.

Every writer that turns a name it was given (a project's name, a track's name, a video's stem)
into a file name goes through :func:`safe_stem`, so a shared project cannot steer a file
elsewhere with ``../``, an absolute path or a control character, and a name in any script
(鼓, Ударные, drums 🥁) survives as it was written. :func:`require_inside` is the second line:
each output path, resolved with its symlinks, must lie inside the folder the user chose.

Plain helpers (no studio imports): ``export/`` and the UI use them as well.
"""
from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path
from typing import Iterable

from studio.errors import ExportError

MAX_STEM_BYTES = 120  # UTF-8 bytes: room for " with sound.mp4" and a temporary name's prefix and
# suffix within the usual 255-byte limit of one path component
DEFAULT_STEM = "untitled"

# NTFS / FAT: characters a file name cannot hold, besides the path separators
_RESERVED_CHARS = '<>:"|?*'
# Windows device names, reserved with any extension ("nul.mid", "COM1 mix.wav" is fine)
_RESERVED_NAMES = frozenset({"con", "prn", "aux", "nul", "conin$", "conout$", "clock$",
                             *(f"com{i}" for i in "0123456789\u00b9\u00b2\u00b3"),
                             *(f"lpt{i}" for i in "0123456789\u00b9\u00b2\u00b3")})
# format characters kept: they join emoji and scripts (ZWNJ, ZWJ); the others (bidirectional
# overrides that disguise an extension, BOMs, invisible separators) go
_KEPT_FORMAT = frozenset({"\u200c", "\u200d"})


def _replace(ch: str) -> bool:
    if ch in "/\\" or ch in _RESERVED_CHARS:
        return True
    cat = unicodedata.category(ch)
    # Cc: C0/C1 controls (NUL, CR, LF, tab, ESC, U+0085 ...); Cs: lone surrogates (undecodable
    # bytes); Zl/Zp: line and paragraph separators; Cf: see _KEPT_FORMAT
    return cat in ("Cc", "Cs", "Zl", "Zp") or (cat == "Cf" and ch not in _KEPT_FORMAT)


def _truncate_utf8(s: str, max_bytes: int) -> str:
    if len(s.encode("utf-8", "surrogatepass")) <= max_bytes:
        return s
    out, size = [], 0
    for ch in s:
        n = len(ch.encode("utf-8", "surrogatepass"))
        if size + n > max_bytes:
            break
        out.append(ch)
        size += n
    return "".join(out).rstrip("\u200c\u200d")


def safe_stem(name, default: str = DEFAULT_STEM, *, max_bytes: int = MAX_STEM_BYTES) -> str:
    """A file-name stem (no extension added) from any text, the same on every platform.

    Path separators, NTFS/FAT-reserved characters (``<>:"|?*``) and control characters (C0,
    C1, line separators, invisible format characters) become ``_``; runs of dots become one dot
    (no ``..``); leading dots and spaces (hidden files) and trailing dots and spaces (Windows
    drops them) go; Windows device names (``con``, ``NUL.x``, ``com1``) get a ``_``; the result
    is NFC and at most ``max_bytes`` of UTF-8. Letters of any script and emoji are kept.
    An empty result is ``default``.
    """
    s = unicodedata.normalize("NFC", str(name))
    s = "".join("_" if _replace(ch) else ch for ch in s)
    s = re.sub(r"\s+", " ", s)  # tabs are gone already; other odd spaces become a plain space
    s = re.sub(r"_{2,}", "_", s)
    s = re.sub(r"\.{2,}", ".", s)
    s = s.strip(" .")
    s = _truncate_utf8(s, max_bytes).rstrip(" .")
    if not s:
        s = default
    head, dot, tail = s.partition(".")
    if head.rstrip(" ").lower() in _RESERVED_NAMES:
        s = head.rstrip(" ") + "_" + dot + tail
    return s


def unique_stems(names: Iterable[str], *, taken: Iterable[str] = (), default: str = DEFAULT_STEM) -> list[str]:
    """``safe_stem`` of each name, unique without regard to case or Unicode normal form
    (``Drums``, ``Drums (2)``, ...), as case-insensitive file systems need."""
    used = {_key(t) for t in taken}
    out = []
    for n in names:
        base = safe_stem(n, default)
        cand, k = base, 2
        while _key(cand) in used:
            suffix = f" ({k})"
            cand = _truncate_utf8(base, MAX_STEM_BYTES - len(suffix)).rstrip(" .") + suffix
            k += 1
        used.add(_key(cand))
        out.append(cand)
    return out


def unique_name(name: str, taken: Iterable[str]) -> str:
    """A track's display name unique among ``taken`` (without regard to case or Unicode normal
    form): ``name`` itself when free, else ``"name 2"``, ``"name 3"``, ... (a second "Drums" is
    "Drums 2"). The app gives every track it adds such a name (``studio.generate.applied_tracks``
    in its replace / variation modes, a duplicate, an import)."""
    used = {_key(t) for t in taken}
    base = str(name).strip() or "Track"
    if _key(base) not in used:
        return base
    k = 2
    while _key(f"{base} {k}") in used:
        k += 1
    return f"{base} {k}"


def _key(s: str) -> str:
    return unicodedata.normalize("NFC", s).casefold()


def export_names(base, file_format: str = "wav") -> dict[str, str]:
    """The names an export gives its outputs, from one base (a project's name): the same in the
    app's Export dialog and ``studio export --out``."""
    b = safe_stem(base)
    return {"stems_dir": f"{b} stems", "mix_path": f"{b} mix.{file_format}", "midi_path": f"{b}.mid",
            "video_path": f"{b} with sound.mp4", "rpp_path": f"{b}.rpp", "dawproject_path": f"{b}.dawproject"}


def resolved(path: str | os.PathLike) -> Path:
    """``path`` made absolute with every symlink followed (also for parts that do not exist yet)."""
    return Path(os.path.realpath(os.path.abspath(os.fspath(path))))


def is_inside(root: str | os.PathLike, path: str | os.PathLike) -> bool:
    """True when ``path`` (resolved, symlinks followed) is ``root`` or lies below it."""
    r, p = resolved(root), resolved(path)
    return p == r or r in p.parents


def require_inside(root: str | os.PathLike, paths: Iterable[str | os.PathLike | None], *,
                   error: type[Exception] = ExportError) -> None:
    """Refuse (``error``) before any work when an output would land outside ``root``: a name
    with ``..``, an absolute path, or a symlink on the way that leads elsewhere."""
    for p in paths:
        if p is None:
            continue
        if not is_inside(root, p):
            where = resolved(p)
            extra = "" if where == Path(os.path.abspath(os.fspath(p))) else f" (it resolves to {where})"
            raise error(f"refusing to write {p}: it lies outside the chosen folder {root}{extra}; "
                        "choose a name without '..', '/' or a link that leads elsewhere")


def external_paths(project, tracks=None) -> list[str]:
    """Audio files that ``tracks`` (default: all of ``project``'s) reference outside the
    project's folder (an absolute path, ``..``, a link that leads out; any absolute path while
    the project is unsaved): a shared project could otherwise pull any file of the recipient's
    disk into their export. The paths as stored, first to last, each once."""
    tracks = project.tracks if tracks is None else tracks
    out: list[str] = []
    for t in tracks:
        ref = t.audio_path
        if not ref or ref in out:
            continue
        if project.path is None:
            outside = Path(ref).is_absolute()
        else:
            outside = not is_inside(project.folder, project.resolve(ref))
        if outside:
            out.append(ref)
    return out
