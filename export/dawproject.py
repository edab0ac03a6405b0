"""A DAWproject file (.dawproject): the open exchange format Bitwig Studio and Studio One read.

The container is a ZIP holding ``project.xml`` (the tracks, the mixer, the arrangement and the
tempo map), ``metadata.xml`` (title and comment) and the audio it plays, the exported stems,
under ``audio/``. This writer keeps to the subset of the format's schema (version 1.0) that
carries what the REAPER project carries::

    <Project version="1.0">
      <Application name=... version=.../>
      <Transport>
        <Tempo unit="bpm" value=... id/>          the first tempo (quarter notes per minute)
        <TimeSignature numerator denominator id/> the main signature
      </Transport>
      <Structure>
        <Track contentType="audio" loaded="true" id name>   one per stem (post-fader: unity)
          <Channel role="regular" audioChannels="2" destination="master" id>
            <Mute value/> <Pan unit="normalized" value/> <Volume unit="linear" value/>
          </Channel>
        </Track>
        <Track contentType="notes" ...>           one per part of the Standard MIDI File
        <Channel role="master" ...>               the master fader
      </Structure>
      <Arrangement id>
        <Lanes timeUnit="beats" id>
          <Lanes track=trackId id><Clips id><Clip time duration ...>
            <Audio timeUnit="seconds" channels sampleRate duration id><File path="audio/X.wav"/></Audio>
            | <Notes id><Note time duration channel key vel rel/>...</Notes>
          </Clip></Clips></Lanes> ...
        </Lanes>
        <Markers timeUnit="beats" id><Marker time name="Bar 1"/></Markers>
        <TempoAutomation timeUnit="beats" unit="bpm" id><Target parameter=tempoId/>
          <RealPoint time value interpolation="hold"/>...</TempoAutomation>
        <TimeSignatureAutomation timeUnit="beats" id><Target parameter=signatureId/>
          <TimeSignaturePoint time numerator denominator/>...</TimeSignatureAutomation>
      </Arrangement>
    </Project>

Element order follows the schema's sequences (Project: Application, Transport, Structure,
Arrangement; Channel: Mute, Pan, Volume; Arrangement: Lanes, Markers, TempoAutomation,
TimeSignatureAutomation; automation: Target first).

Time: the arrangement counts beats (quarter notes) from the start of the exported range, read
off the Standard MIDI File that ``export.smf.build_midi`` makes (``smf_parts``): a note's time
is its tick / PPQ there, so every position equals the SMF's, pickup included; the tempo and
signature points are the SMF's conductor (``export.smf.TickMap``), and the marker "Bar 1" sits
on the first downbeat as in the SMF (the pickup before it; the RPP numbers that downbeat bar 1,
and the MIDI clock sends song position 0 there). Audio clips keep their content in seconds, so
a stem plays at its own speed under any tempo map and lines up with the video from time 0.
"""
from __future__ import annotations

import unicodedata
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from export.smf import TickMap

FORMAT_VERSION = "1.0"
AUDIO_FOLDER = "audio"
RELEASE_VELOCITY = 64 / 127  # the MIDI default note-off velocity


@dataclass(frozen=True)
class AudioStem:
    """One stem: its track name, the file to copy in (``path``), the name it gets under
    ``audio/`` and its length in seconds."""
    name: str
    path: Path
    file_name: str
    seconds: float
    sample_rate: int
    channels: int = 2


@dataclass(frozen=True)
class NotePart:
    """One part of the Standard MIDI File: its notes as (start tick, end tick, channel, key,
    velocity 1..127), with the track's fader (linear gain, pan -1..1) for its channel."""
    name: str
    notes: tuple[tuple[int, int, int, int, int], ...]
    volume: float = 1.0
    pan: float = 0.0


def smf_parts(mid) -> tuple[list[NotePart], list[tuple[int, str]]]:
    """The parts (track 1 on) and the conductor's markers (tick, text) of a ``mido.MidiFile``
    as ``export.smf.build_midi`` makes it; a note is a note_on and the next note_off (or
    note_on with velocity 0) of its channel and key."""
    markers, k = [], 0
    for msg in mid.tracks[0] if mid.tracks else ():
        k += msg.time
        if msg.is_meta and msg.type == "marker":
            markers.append((k, msg.text))
    parts = []
    for track in mid.tracks[1:]:
        name, k, open_, notes = "", 0, {}, []
        for msg in track:
            k += msg.time
            if msg.is_meta:
                name = msg.name if msg.type == "track_name" and not name else name
            elif msg.type == "note_on" and msg.velocity > 0:
                open_.setdefault((msg.channel, msg.note), []).append((k, msg.velocity))
            elif msg.type in ("note_on", "note_off") and open_.get((msg.channel, msg.note)):
                start, vel = open_[(msg.channel, msg.note)].pop(0)
                notes.append((start, k, msg.channel, msg.note, vel))
        parts.append(NotePart(name, tuple(sorted(notes))))
    return parts, markers


def _num(x: float) -> str:
    """A number as the shortest text that reads back as the same double."""
    return repr(float(x))


def _text(s) -> str:
    """``s`` as XML 1.0 can hold it on one line: every control character (C0 with tab, CR and
    LF; DEL; C1), the line and paragraph separators, lone surrogates and the non-characters
    U+FFFE/U+FFFF become a space."""
    return "".join(" " if unicodedata.category(ch) in ("Cc", "Zl", "Zp", "Cs") or ch in "\ufffe\uffff" else ch
                   for ch in str(s))


class _Ids:
    """Unique ``xs:ID`` values (NCNames)."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, kind: str) -> str:
        self.n += 1
        return f"{kind}{self.n}"


def _channel(parent: ET.Element, cid: str, ids: _Ids, *, role: str, volume: float, pan: float,
             destination: str | None = None, name: str | None = None) -> ET.Element:
    attrs = {"id": cid} | ({"name": name} if name is not None else {})
    attrs |= {"role": role, "audioChannels": "2", "solo": "false"}
    if destination is not None:
        attrs["destination"] = destination
    ch = ET.SubElement(parent, "Channel", attrs)
    ET.SubElement(ch, "Mute", {"id": ids("mute"), "name": "Mute", "value": "false"})
    ET.SubElement(ch, "Pan", {"id": ids("pan"), "name": "Pan", "unit": "normalized", "min": "0", "max": "1",
                              "value": _num(min(1.0, max(0.0, (pan + 1.0) / 2.0)))})
    volume = max(0.0, float(volume))
    ET.SubElement(ch, "Volume", {"id": ids("volume"), "name": "Volume", "unit": "linear", "min": "0",
                                 "max": _num(max(2.0, volume)), "value": _num(volume)})
    return ch


def _track(structure: ET.Element, ids: _Ids, name: str, content: str, *, volume: float, pan: float,
           master: str) -> str:
    tid = ids("track")
    track = ET.SubElement(structure, "Track", {"id": tid, "name": _text(name), "contentType": content,
                                               "loaded": "true"})
    _channel(track, ids("channel"), ids, role="regular", volume=volume, pan=pan, destination=master)
    return tid


def _audio_lane(lanes: ET.Element, ids: _Ids, track_id: str, stem: AudioStem, beats: float) -> None:
    lane = ET.SubElement(lanes, "Lanes", {"id": ids("lanes"), "track": track_id})
    clips = ET.SubElement(lane, "Clips", {"id": ids("clips")})
    clip = ET.SubElement(clips, "Clip", {"name": _text(stem.name), "time": "0", "duration": _num(beats),
                                         "contentTimeUnit": "seconds", "playStart": "0",
                                         "playStop": _num(stem.seconds)})
    audio = ET.SubElement(clip, "Audio", {"id": ids("audio"), "timeUnit": "seconds",
                                          "duration": _num(stem.seconds), "channels": str(int(stem.channels)),
                                          "sampleRate": str(int(stem.sample_rate))})
    ET.SubElement(audio, "File", {"path": f"{AUDIO_FOLDER}/{stem.file_name}"})


def _notes_lane(lanes: ET.Element, ids: _Ids, track_id: str, part: NotePart, beats: float, ppq: int) -> None:
    lane = ET.SubElement(lanes, "Lanes", {"id": ids("lanes"), "track": track_id})
    clips = ET.SubElement(lane, "Clips", {"id": ids("clips")})
    clip = ET.SubElement(clips, "Clip", {"name": _text(part.name), "time": "0", "duration": _num(beats)})
    notes = ET.SubElement(clip, "Notes", {"id": ids("notes")})
    for k0, k1, channel, key, vel in part.notes:
        ET.SubElement(notes, "Note", {"time": _num(k0 / ppq), "duration": _num((k1 - k0) / ppq),
                                      "channel": str(int(channel)), "key": str(int(key)),
                                      "vel": _num(vel / 127), "rel": _num(RELEASE_VELOCITY)})


def _tempo_map(arrangement: ET.Element, ids: _Ids, tick_map: TickMap, ppq: int, tempo_id: str,
               signature_id: str) -> None:
    """The SMF's conductor: square tempo points (quarter notes per minute) and its signatures."""
    tempo = ET.SubElement(arrangement, "TempoAutomation", {"id": ids("tempoMap"), "timeUnit": "beats",
                                                           "unit": "bpm"})
    ET.SubElement(tempo, "Target", {"parameter": tempo_id})
    for k, us in zip(tick_map.ticks, tick_map.tempos_us):
        ET.SubElement(tempo, "RealPoint", {"time": _num(k / ppq), "value": _num(60e6 / us),
                                           "interpolation": "hold"})
    sigs = ET.SubElement(arrangement, "TimeSignatureAutomation", {"id": ids("signatures"), "timeUnit": "beats"})
    ET.SubElement(sigs, "Target", {"parameter": signature_id})
    for k, num, den in tick_map.signatures:
        ET.SubElement(sigs, "TimeSignaturePoint", {"time": _num(k / ppq), "numerator": str(int(num)),
                                                   "denominator": str(int(den))})


def project_xml(stems: Sequence[AudioStem], parts: Sequence[NotePart], *, tick_map: TickMap, ppq: int,
                length_s: float, markers: Sequence[tuple[int, str]] = (),
                application: tuple[str, str] = ("Studio", "0"), master_volume: float = 1.0) -> bytes:
    """``project.xml``: a track per stem (``stems``, unity faders: the stems are post-fader) and
    per SMF part (``parts``, with their tracks' faders), the master channel at ``master_volume``,
    each clip from 0 to ``length_s`` (in beats through ``tick_map``), the markers (SMF ticks) and
    the tempo map."""
    ids = _Ids()
    root = ET.Element("Project", {"version": FORMAT_VERSION})
    ET.SubElement(root, "Application", {"name": _text(application[0]), "version": _text(application[1])})
    transport = ET.SubElement(root, "Transport")
    tempo_id, signature_id = ids("tempo"), ids("timeSignature")
    ET.SubElement(transport, "Tempo", {"id": tempo_id, "name": "Tempo", "unit": "bpm",
                                       "value": _num(60e6 / tick_map.tempos_us[0])})
    main = tick_map.signatures[-1]
    ET.SubElement(transport, "TimeSignature", {"id": signature_id, "numerator": str(int(main[1])),
                                               "denominator": str(int(main[2]))})
    structure = ET.SubElement(root, "Structure")
    master = ids("master")
    stem_ids = [_track(structure, ids, s.name, "audio", volume=1.0, pan=0.0, master=master) for s in stems]
    part_ids = [_track(structure, ids, p.name, "notes", volume=p.volume, pan=p.pan, master=master)
                for p in parts]
    _channel(structure, master, ids, role="master", volume=master_volume, pan=0.0, name="Master")
    arrangement = ET.SubElement(root, "Arrangement", {"id": ids("arrangement")})
    lanes = ET.SubElement(arrangement, "Lanes", {"id": ids("lanes"), "timeUnit": "beats"})
    beats = tick_map.tick(float(length_s)) / ppq
    for tid, stem in zip(stem_ids, stems):
        _audio_lane(lanes, ids, tid, stem, beats)
    for tid, part in zip(part_ids, parts):
        _notes_lane(lanes, ids, tid, part, beats, ppq)
    if markers:  # the schema's Markers holds at least one
        marks = ET.SubElement(arrangement, "Markers", {"id": ids("markers"), "timeUnit": "beats"})
        for k, text in markers:
            ET.SubElement(marks, "Marker", {"time": _num(k / ppq), "name": _text(text)})
    _tempo_map(arrangement, ids, tick_map, ppq, tempo_id, signature_id)
    return _bytes(root)


def metadata_xml(title: str, comment: str = "") -> bytes:
    """``metadata.xml``: the title (and a comment)."""
    root = ET.Element("MetaData")
    ET.SubElement(root, "Title").text = _text(title)
    if comment:
        ET.SubElement(root, "Comment").text = _text(comment)
    return _bytes(root)


def _bytes(root: ET.Element) -> bytes:
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def write_dawproject(path, stems: Sequence[AudioStem], parts: Sequence[NotePart], *, tick_map: TickMap,
                     ppq: int, length_s: float, title: str, markers: Sequence[tuple[int, str]] = (),
                     application: tuple[str, str] = ("Studio", "0"), master_volume: float = 1.0,
                     comment: str = "") -> None:
    """The ``.dawproject`` ZIP at ``path`` (a temporary file of the caller's staging): the two
    XML files (deflated) and every stem copied under ``audio/`` as it is (stored)."""
    xml = project_xml(stems, parts, tick_map=tick_map, ppq=ppq, length_s=length_s, markers=markers,
                      application=application, master_volume=master_volume)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        zf.writestr("project.xml", xml)
        zf.writestr("metadata.xml", metadata_xml(title, comment))
        for stem in stems:
            zf.write(stem.path, f"{AUDIO_FOLDER}/{stem.file_name}", compress_type=zipfile.ZIP_STORED)

