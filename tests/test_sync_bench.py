"""The sync benchmark on the quick ground-truth suite: the engine against truth it did not make,
with a random pattern of equal density measured in the same run."""
from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def test_quick_sync_bench_against_truth_and_baselines(monkeypatch):
    from studio.bench import sync

    monkeypatch.setenv("STUDIO_SYNC_QUICK", "1")
    out = sync.run()
    json.dumps(out)
    e, r = out["engine"], out["random"]
    print(json.dumps({k: out[k] for k in ("engine", "metronome", "random")}, indent=1))
    bounce = out["engine_by_kind"]["bounce"]
    # plain bouncing balls (with drift and a pan): tempo, beats and drums on the true contacts
    assert bounce["tempo_acc1"] == 1.0 and bounce["beat_f_25ms"] >= 0.9
    assert bounce["contact_precision"] >= 0.9 and bounce["contacts_with_drum_25ms"] >= 0.8
    for key in ("beat_f_70ms", "beat_f_25ms", "contact_precision", "contact_recall", "contacts_with_drum_25ms"):
        assert e[key] > r[key], key
