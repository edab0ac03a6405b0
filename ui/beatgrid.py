"""How the UI shows the project's beat grid (``project.tempo``, built by studio.grid): one tempo
figure, bar.beat positions with a pickup before bar 1, the ruler's labels and the analysis
lane's tempo line. Every view takes its text from here, so the tempo box, the ruler, the
bar.beat readout, the analysis lane and the Generate panel never disagree. No Qt here."""
from __future__ import annotations

import math

LOW_CONFIDENCE = 0.3  # below this: no clear rhythm (unless the analysis says where its own line is)
MINUS = "\u2212"


def grid_bpm(tempo, duration_s: float) -> float:
    """THE tempo of the grid: the constant tempo, or for a map that follows the visual beats
    the mean from bar 1 to the end of the video (beats there / time there)."""
    start = tempo.downbeat_s
    if len(tempo.changes) == 1 or not duration_s > start + 1e-6:
        return float(tempo.changes[0].bpm)
    return float(tempo.beat_at(duration_s) * 60.0 / (duration_s - start))


def is_constant(tempo) -> bool:
    return len(tempo.changes) == 1


def bpm_text(tempo, duration_s: float, unit: bool = True) -> str:
    """'120.0 BPM' for a constant tempo, '\u2248101.3 BPM' for a map that follows the picture."""
    text = f"{'' if is_constant(tempo) else chr(0x2248)}{grid_bpm(tempo, duration_s):.1f}"
    return text + (" BPM" if unit else "")


def pickup_beat(tempo, t: float) -> int | None:
    """Beats still to come before bar 1 at time ``t`` (the current beat counted: 1 = the last
    beat before bar 1), or None from bar 1 on."""
    beat = tempo.beat_at(t)
    if beat >= -1e-9:
        return None
    return max(1, int(math.ceil(-beat - 1e-9)))


def position_text(tempo, t: float) -> str:
    """The bar.beat readout: '3.2' from bar 1 on; in the pickup before bar 1 the count-in the
    ruler shows there ('pickup \u22122': two beats to go)."""
    n = pickup_beat(tempo, t)
    if n is not None:
        return f"pickup {MINUS}{n}"
    bar, inbar = divmod(tempo.beat_at(t) + 1e-9, tempo.beats_per_bar)
    return f"{int(bar) + 1}.{int(inbar) + 1}"


def _every(px: float, min_px: float) -> int:
    every = 1
    while px * every < min_px and every < 1 << 16:
        every *= 2
    return every


def ruler_marks(tempo, t0: float, t1: float, px_per_s: float) -> list[tuple[float, str, bool]]:
    """(time, label, is_pickup) of the ruler's musical labels within [t0, t1] (never before 0 s):
    bar numbers from bar 1 on the first downbeat, and the count-in beats of the pickup before it
    ('\u22122', '\u22121', as the bar.beat readout shows them), thinned out so labels stay
    readable. There is no bar 0."""
    t0 = max(0.0, t0)
    if t1 < t0:
        return []
    bpb = tempo.beats_per_bar
    px_per_beat = px_per_s * 60.0 / tempo.bpm_at(max(t0, tempo.downbeat_s))
    marks: list[tuple[float, str, bool]] = []
    b0, b1 = tempo.beat_at(t0), tempo.beat_at(t1)
    if b0 < 0:  # the pickup: count-in beats
        px = px_per_s * 60.0 / tempo.changes[0].bpm
        every = _every(px, 26)
        first = int(math.ceil(b0 - 1e-9))
        for b in range(first, min(0, int(math.floor(b1)) + 1)):
            if (-b) % every == 0:
                marks.append((tempo.time_at(float(b)), f"{MINUS}{-b}", True))
    every = _every(px_per_beat * bpb, 36)
    bar0 = max(0, int(math.floor(b0 / bpb)))
    for bar in range(bar0 - bar0 % every, int(math.ceil(b1 / bpb)) + 1, every):
        t = tempo.time_at(float(bar * bpb))
        if t0 - 1e-9 <= t <= t1:
            marks.append((t, str(bar + 1), False))
    return marks


def detected_tempo(analysis):
    """The grid the analysis alone gives (what 'Tempo from video' sets), or None."""
    from studio.errors import StudioError
    from studio.grid import tempo_map

    if analysis is None:
        return None
    extra = analysis.extra  # the UI's cache beside the analysis (not saved)
    if "_ui_detected_tempo" not in extra:
        try:
            extra["_ui_detected_tempo"] = tempo_map(analysis)
        except (StudioError, ValueError, IndexError):  # no usable beats: no detected grid
            extra["_ui_detected_tempo"] = None
    return extra["_ui_detected_tempo"]


def confidence(analysis) -> float | None:
    c = getattr(analysis, "tempo_confidence", None)
    return None if c is None else float(c)


def low_confidence_line() -> float:
    """The confidence under which the analysis itself finds no clear pulse (the UI uses the
    same line, so the lane never says 'no clear rhythm' for a video the engines treat as rhythmic)."""
    try:
        from studio.analysis.beats import MIN_CONFIDENCE
    except ImportError:
        return LOW_CONFIDENCE
    return float(MIN_CONFIDENCE)


def unclear(analysis) -> bool:
    """The analysis found no clear rhythm in the picture."""
    c = confidence(analysis)
    return c is not None and c < low_confidence_line()


def analysis_tempo_text(analysis, tempo, duration_s: float) -> str:
    """The analysis lane's tempo line: the grid's tempo; 'detected X BPM (grid Y)' once the
    user corrected the grid; 'no clear rhythm' when the analysis is not confident of one."""
    grid = bpm_text(tempo, duration_s) if tempo is not None else ""
    detected = detected_tempo(analysis)
    low = unclear(analysis)
    corrected = tempo is not None and detected is not None and detected != tempo
    if low:
        return f"no clear rhythm (grid {bpm_text(tempo, duration_s, False)})" if corrected else "no clear rhythm"
    if detected is None:
        return grid
    if corrected:
        return f"detected {bpm_text(detected, duration_s)} (grid {bpm_text(tempo, duration_s, False)})"
    return grid
