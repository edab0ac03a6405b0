"""Instrument banks: the soundfonts this machine has, by a stable id, and which one a part uses.

A *bank* is one installed soundfont file: either a General MIDI bank (``kind == "gm"``: 128
melodic programs in bank 0 and drum kits in bank 128) or a recorded drum kit (``kind ==
"drums"``: one kit preset whose keys may not follow the GM drum map). Banks are named by an id
that stays the same from machine to machine (``"musescore"``, ``"fluidr3"``, ``"timgm6mb"``,
``"avl-black-pearl"``...), so a project can store a per-track choice and still load where that
bank is missing (the part then falls back to the automatic choice, with a warning).

Known banks, best first (Debian package -> file):

================  =====  ==========================================  ===============================
id                kind   file (package)                              licence
================  =====  ==========================================  ===============================
musescore-        gm     MuseScore_General_Full.sf2                  MIT (parts CC0 / public domain)
lossless                 (musescore-general-soundfont-lossless)
musescore         gm     MuseScore_General_Full.sf3                  MIT (parts CC0 / public domain)
                         (musescore-general-soundfont)
fluidr3           gm     FluidR3_GM.sf2 (fluid-soundfont-gm)         MIT
musescore-lite    gm     MuseScore_General_Lite.sf3                  MIT
                         (musescore-general-soundfont-small)
timgm6mb          gm     TimGM6mb.sf2 (timgm6mb-soundfont)           GPL-2
default-gm        gm     the system's default-GM.sf2/.sf3 link       (whatever it points to)
avl-black-pearl   drums  Black_Pearl_4_LV2.sf2                       CC-BY-SA-3.0 (Glen MacArthur)
                         (avldrums.lv2-soundfont)
avl-red-zeppelin  drums  Red_Zeppelin_4_LV2.sf2                      CC-BY-SA-3.0 (Glen MacArthur)
                         (avldrums.lv2-soundfont)
================  =====  ==========================================  ===============================

``musescore-lossless`` is the font ``musescore`` was made from, its samples uncompressed: the
same presets and instruments, without the Ogg Vorbis coding error (30-40 dB below the signal),
and nothing to decode (the piano and basses of a soundtrack: 2.16 -> 0.21 CPU-s a process).
They keep separate ids because their samples differ: a track that chose one renders the same on
every machine that has that file.

The same file reached by two paths (a ``default-GM`` link, the ``/usr/lib/lv2`` copy) is listed
once, under the first id that finds it. Any other soundfont (``$STUDIO_SOUNDFONT`` or an
explicit path) is a GM bank with id ``file:<name>``.

Which bank a part uses is decided by :func:`studio.synth.resolve_bank` (order in its module doc).

AVL drum kits and the GM drum map
    The AVL Drumkits (recorded Pearl / Ludwig 4-piece kits, 5 velocity layers per key) put most
    sounds on their GM keys (kick 36, side stick 37, snare 38, clap 39, hi-hats 42/44/46, crash
    49, ride 51/53, tambourine 54, splash 55, cowbell 56, crash 2 57, ride 59), but use some GM
    keys for other sounds (48 hi-hat swish, 50/52/58 cymbal chokes, 60 a Paiste 2002 22"
    cymbal, 61 maracas) and have only two toms (16" floor tom on 41, rack tom on 45; their
    edge hits on 43 and 47). :data:`AVL_GM_MAP` plays each GM drum note on the kit's closest
    sound; GM notes the kit has nothing for (Latin percussion, whistles, the GM keys below 35
    and above 61 except maracas) are played by the GM bank's standard kit, so no note is lost.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Mapping

__all__ = ["Bank", "KNOWN_BANKS", "AVL_GM_MAP", "GM", "DRUMS", "discover", "bank_by_id",
           "bank_for_path", "exclusive_groups", "velocity_layers"]

GM, DRUMS = "gm", "drums"

# GM drum note -> AVL kit key (GM notes not listed and not in the kit go to the GM bank's kit).
# Identity for the keys where the kit's sound is the GM sound; the remaps:
AVL_GM_MAP: Mapping[int, int] = {
    **{k: k for k in (36, 37, 38, 39, 41, 42, 43, 44, 46, 49, 51, 53, 54, 55, 56, 57, 59)},
    35: 36,  # acoustic bass drum -> the kit's kick (it has one)
    # toms: GM has six, the kit two drums. GM's low toms (41 low floor, 43 high floor, 45 low)
    # play the 16" floor tom (43 keeps the kit's own floor-tom edge hit), the higher three the
    # rack tom; 50 (high tom) takes the rack tom's edge hit, brighter than its centre. The rhythm
    # engine's low/mid/high toms (45/48/50) so stay three different sounds.
    45: 41,  # low tom -> floor tom (the kit's 45 is its only rack tom)
    47: 45,  # low-mid tom -> rack tom (the kit's 47 is the rack tom's edge)
    48: 45,  # hi-mid tom -> rack tom (the kit's 48 is a hi-hat swish)
    50: 47,  # high tom -> rack tom edge (the kit's 50 is a crash choke)
    40: 40,  # electric snare -> the snare's edge hit (no electric snare in a recorded kit)
    52: 60,  # Chinese cymbal -> the Paiste 2002 22" (the kit's 52 is a ride choke)
    70: 61,  # maracas (the kit has them on 61)
}


@dataclass(frozen=True)
class Bank:
    """One installed soundfont. ``drum_preset`` is the (bank, program) of its standard kit;
    ``note_map`` maps GM drum notes to kit keys (None: the kit follows the GM drum map)."""

    id: str
    name: str
    path: Path
    kind: str  # GM or DRUMS
    licence: str
    package: str = ""
    drum_preset: tuple[int, int] = (128, 0)
    note_map: Mapping[int, int] | None = field(default=None, compare=False)

    @property
    def size_bytes(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "path": str(self.path), "kind": self.kind,
                "size_bytes": self.size_bytes, "licence": self.licence, "package": self.package}


@dataclass(frozen=True)
class _Known:
    id: str
    name: str
    kind: str
    licence: str
    package: str
    paths: tuple[str, ...]
    drum_preset: tuple[int, int] = (128, 0)
    note_map: Mapping[int, int] | None = None


_SF2, _SF3, _LV2 = "/usr/share/sounds/sf2/", "/usr/share/sounds/sf3/", "/usr/lib/lv2/avldrums.lv2/"
_AVL_LICENCE = "CC-BY-SA-3.0 (samples by Glen MacArthur)"
# Best first within each kind: the automatic choice takes the first one installed.
KNOWN_BANKS: tuple[_Known, ...] = (
    # the same font uncompressed: the samples the SF3 was made from, read instead of decoded
    _Known("musescore-lossless", "MuseScore General (HQ, lossless)", GM, "MIT (parts CC0 / public domain)",
           "musescore-general-soundfont-lossless", (_SF2 + "MuseScore_General_Full.sf2",)),
    _Known("musescore", "MuseScore General (HQ)", GM, "MIT (parts CC0 / public domain)",
           "musescore-general-soundfont", (_SF3 + "MuseScore_General_Full.sf3",)),
    _Known("fluidr3", "Fluid R3 GM", GM, "MIT", "fluid-soundfont-gm",
           (_SF2 + "FluidR3_GM.sf2", "/usr/share/soundfonts/FluidR3_GM.sf2")),
    _Known("musescore-lite", "MuseScore General Lite", GM, "MIT (parts CC0 / public domain)",
           "musescore-general-soundfont-small", (_SF3 + "MuseScore_General_Lite.sf3",)),
    _Known("timgm6mb", "TimGM6mb", GM, "GPL-2", "timgm6mb-soundfont", (_SF2 + "TimGM6mb.sf2",)),
    _Known("default-gm", "system default GM", GM, "see the package that provides it", "",
           (_SF2 + "default-GM.sf2", _SF3 + "default-GM.sf3", "/usr/share/soundfonts/default.sf2")),
    _Known("avl-black-pearl", "AVL Black Pearl", DRUMS, _AVL_LICENCE,
           "avldrums.lv2-soundfont", (_SF2 + "Black_Pearl_4_LV2.sf2", _LV2 + "Black_Pearl_4_LV2.sf2"),
           (0, 0), AVL_GM_MAP),
    _Known("avl-red-zeppelin", "AVL Red Zeppelin", DRUMS, _AVL_LICENCE,
           "avldrums.lv2-soundfont", (_SF2 + "Red_Zeppelin_4_LV2.sf2", _LV2 + "Red_Zeppelin_4_LV2.sf2"),
           (0, 0), AVL_GM_MAP),
)


def _bank(k: _Known, path: Path) -> Bank:
    return Bank(k.id, k.name, path, k.kind, k.licence, k.package, k.drum_preset, k.note_map)


def discover(known: tuple[_Known, ...] | None = None) -> list[Bank]:
    """The known banks installed here, best first within each kind (GM banks, then kits).
    Reads only file metadata (cheap; called on each use, so installs are seen at once)."""
    seen: set[str] = set()
    out: list[Bank] = []
    for k in KNOWN_BANKS if known is None else known:
        for p in k.paths:
            path = Path(p)
            if not path.is_file():
                continue
            real = os.path.realpath(path)
            if real not in seen:
                seen.add(real)
                out.append(_bank(k, path))
            break
    return out


def bank_by_id(bank_id: str) -> Bank | None:
    """The installed bank with this id (None when it is not installed here)."""
    return next((b for b in discover() if b.id == bank_id), None)


def bank_for_path(path: str | os.PathLike) -> Bank:
    """A bank for any soundfont file: the known bank when it is one, else a GM ``file:`` bank."""
    path = Path(path)
    real = os.path.realpath(path)
    for k in KNOWN_BANKS:
        if any(os.path.realpath(p) == real for p in k.paths if Path(p).exists()):
            return _bank(k, path)
        if path.name in {Path(p).name for p in k.paths} and k.kind == DRUMS:
            return _bank(k, path)  # a copy of a known kit elsewhere keeps its note map
    return Bank(f"file:{path.name}", path.name, path, GM, "unknown (your file)")


# ----------------------------------------------------------------------------- SF2 structure
# Only the preset data (pdta) is read: exclusive classes decide which drum notes choke each
# other (the synth's lanes must reproduce that), velocity ranges tell where a bank has layers.


def _chunks(data: bytes, off: int, end: int):
    while off + 8 <= end:
        cid, size = data[off:off + 4], struct.unpack_from("<I", data, off + 4)[0]
        yield cid, off + 8, size
        off += 8 + size + (size & 1)


@lru_cache(maxsize=16)
def _pdta(path: str, mtime: float) -> dict[str, bytes]:
    with open(path, "rb") as f:
        head = f.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"sfbk":
            raise ValueError(f"{path} is not a SoundFont (RIFF sfbk) file")
        while True:
            h = f.read(12)
            if len(h) < 8:
                raise ValueError(f"{path} has no preset data")
            cid, size = h[:4], struct.unpack("<I", h[4:8])[0]
            if cid == b"LIST" and h[8:12] == b"pdta":
                body = f.read(size - 4)
                return {c.decode("latin-1"): body[o:o + s] for c, o, s in _chunks(body, 0, len(body))}
            f.seek(size - 4 + (size & 1), 1)


def _records(blob: bytes, fmt: str) -> list[tuple]:
    n = struct.calcsize(fmt)
    return [struct.unpack_from(fmt, blob, i) for i in range(0, len(blob) - n + 1, n)]


def _zones(path: Path, bank: int, program: int) -> list[tuple[tuple[int, int], tuple[int, int], int]]:
    """(key range, velocity range, exclusive class) of every sounding zone of one preset."""
    d = _pdta(str(path), path.stat().st_mtime)
    phdr = _records(d["phdr"], "<20sHHHIII")
    pbag, pgen = _records(d["pbag"], "<HH"), _records(d["pgen"], "<HH")
    inst, ibag, igen = _records(d["inst"], "<20sH"), _records(d["ibag"], "<HH"), _records(d["igen"], "<HH")

    def rng(v: int | None) -> tuple[int, int]:
        return (0, 127) if v is None else (v & 0xFF, v >> 8)

    def gens(bags, gen, i):
        return {op: val for op, val in gen[bags[i][0]:bags[i + 1][0]]}

    out = []
    for pi in range(len(phdr) - 1):
        if (phdr[pi][2], phdr[pi][1]) != (bank, program):
            continue
        for b in range(phdr[pi][3], phdr[pi + 1][3]):
            pg = gens(pbag, pgen, b)
            if 41 not in pg:  # global preset zone
                continue
            pk, pv = rng(pg.get(43)), rng(pg.get(44))
            ii = pg[41]
            glob: dict[int, int] = {}
            for zb in range(inst[ii][1], inst[ii + 1][1]):
                ig = gens(ibag, igen, zb)
                if 53 not in ig:  # instrument global zone: defaults for the others
                    glob = ig if zb == inst[ii][1] else glob
                    continue
                z = {**glob, **ig}
                ik, iv = rng(z.get(43)), rng(z.get(44))
                key = (max(pk[0], ik[0]), min(pk[1], ik[1]))
                vel = (max(pv[0], iv[0]), min(pv[1], iv[1]))
                if key[0] <= key[1] and vel[0] <= vel[1]:
                    out.append((key, vel, int(z.get(57, 0))))
        break
    return out


def exclusive_groups(path: str | os.PathLike, bank: int, program: int) -> dict[int, frozenset[int]]:
    """Key -> the keys it chokes (its exclusive class, itself included) in one preset.
    Keys without an exclusive class are absent. Empty when the file cannot be read."""
    path = Path(path)
    try:
        zones = _zones(path, bank, program)
    except (OSError, ValueError, KeyError, IndexError, struct.error):
        return {}
    by_class: dict[int, set[int]] = {}
    for (k0, k1), _vel, cls in zones:
        if cls:
            by_class.setdefault(cls, set()).update(range(k0, k1 + 1))
    out: dict[int, frozenset[int]] = {}
    for keys in by_class.values():
        group = frozenset(keys)
        for k in keys:
            out[k] = out.get(k, frozenset()) | group
    return out


def velocity_layers(path: str | os.PathLike, bank: int, program: int, key: int) -> int:
    """How many distinct velocity ranges the preset has for this key (1 = no velocity layers)."""
    try:
        zones = _zones(Path(path), bank, program)
    except (OSError, ValueError, KeyError, IndexError, struct.error):
        return 0
    return len({vel for (k0, k1), vel, _ in zones if k0 <= key <= k1})
