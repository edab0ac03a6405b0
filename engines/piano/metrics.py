"""Note-level transcription score of the piano engine (its evaluation, the benchmark, the tests):
mir_eval's onset-only precision / recall / F1 (pitch must match, offsets ignored, 50 ms)."""
from __future__ import annotations

import numpy as np


def onset_prf(ref, est, tolerance_s: float = 0.05) -> tuple[float, float, float]:
    """(precision, recall, F1) of ``est`` against ``ref``: notes with ``start_s``, ``dur_s`` and
    ``pitch`` (PianoNote, train.synth_video.Note); 0s when either side is empty."""
    import mir_eval  # dev/train dependency, only where scores are computed

    if not ref or not est:
        return 0.0, 0.0, 0.0
    ri = np.array([[n.start_s, n.start_s + n.dur_s] for n in ref])
    rp = mir_eval.util.midi_to_hz(np.array([n.pitch for n in ref], float))
    ei = np.array([[n.start_s, n.start_s + max(n.dur_s, 1e-3)] for n in est])
    ep = mir_eval.util.midi_to_hz(np.array([n.pitch for n in est], float))
    p, r, f, _ = mir_eval.transcription.precision_recall_f1_overlap(ri, rp, ei, ep, onset_tolerance=tolerance_s,
                                                                    offset_ratio=None)
    return float(p), float(r), float(f)
