"""The Foley engine's contact patches cut during the analysis pass (``studio.analysis.contact_patches``):
every contact's patch is the one a second decode cuts (bit for bit), the analysis is unchanged,
what the pass cannot serve falls back to a decode, and generate's Foley track is the same either
way."""
from __future__ import annotations

import numpy as np
import pytest

from studio import media
from studio.adapters import foley
from studio.analysis import analyze
from studio.analysis import contact_patches as cp
import rhythm_fixtures as rf


@pytest.fixture(scope="module")
def balls(tmp_path_factory):
    d = tmp_path_factory.mktemp("contact")
    out = {}
    for name, fps, size in (("hd30", 30, (1280, 720)), ("hd60", 60, (1024, 576)), ("small", 30, (320, 240))):
        rf.bouncing_ball_video(d / f"{name}.mp4", fps=fps, size=size, duration_s=5.0, restitution=0.85,
                              gravity=1500.0 * size[1] / 240)
        out[name] = d / f"{name}.mp4"
    return out


def _served(path, **kw):
    tl = analyze(path, use_cache=False, contact_patches=True, **kw)
    patches = tl.extra.pop("contact_patches")
    return tl, patches, dict(patches.patches(list(tl.impacts)))


@pytest.mark.parametrize("name", ["hd30", "hd60"])
def test_every_contact_gets_the_patch_a_second_decode_cuts(balls, name):
    path = balls[name]
    tl, patches, got = _served(path)
    plain = analyze(path, use_cache=False)
    assert tl.impacts == plain.impacts and len(tl.impacts) >= 5  # the analysis itself is unchanged
    assert np.array_equal(tl.onset_envelope, plain.onset_envelope)
    decoded = foley.impact_patches(path, list(tl.impacts))
    assert all(got[k] is not None for k in range(len(decoded))), patches.missed
    for k, patch in enumerate(decoded):
        assert patch.shape[0] > 4 and np.array_equal(got[k], patch), k


def test_small_windows_and_a_tiny_ring_still_serve_exactly_or_leave_it_to_the_decode(balls, monkeypatch):
    """Searches of 16 pairs (many window seams) give the same patches; with a ring of two
    frames most contacts find no frame, and the descriptors (patches served, the rest decoded)
    still equal those of decoding every one."""
    path = balls["hd30"]
    monkeypatch.setattr(cp, "STEP", 16)
    tl, _, got = _served(path)
    decoded = foley.impact_patches(path, list(tl.impacts))
    assert all(got[k] is not None and np.array_equal(got[k], p) for k, p in enumerate(decoded))
    monkeypatch.setattr(cp, "RING_BYTES", 1)
    tl, patches, got = _served(path)
    missing = [k for k, p in got.items() if p is None]
    assert missing and patches.missed > 0
    assert np.array_equal(foley.impact_descriptors(path, list(tl.impacts), contact=patches),
                          foley.impact_descriptors(path, list(tl.impacts)))


def test_a_video_without_the_fast_path_is_left_to_the_decode(balls):
    """320x240: the thumbnail is the frame's whole height's neighbour (no planar shrink path
    shared with the analysis size), so nothing is cut and every patch is decoded."""
    tl, patches, got = _served(balls["small"])
    assert len(tl.impacts) >= 3
    served = [k for k, p in got.items() if p is not None]
    decoded = foley.impact_patches(balls["small"], list(tl.impacts))
    assert all(np.array_equal(got[k], decoded[k]) for k in served)
    assert np.array_equal(foley.impact_descriptors(balls["small"], list(tl.impacts), contact=patches),
                          foley.impact_descriptors(balls["small"], list(tl.impacts)))


def test_half_made_thumbnails_finish_as_iter_thumbnails_makes_them(balls):
    path = balls["hd30"]
    size = media.analysis_size(media.probe(path).video, 160)
    kept = {}
    for k, fr in enumerate(media.iter_frames(path, size=size, thumbnail_height=144)):
        assert fr.thumbnail is not None
        if k % 23 == 7:
            kept[fr.time_s] = fr.thumbnail.finish()
    times = sorted(kept)
    for i, fr in media.iter_thumbnails(path, times, height=144):
        assert fr.time_s == times[i] and np.array_equal(fr.image, kept[times[i]])
    assert all(fr.thumbnail is None for fr in media.iter_frames(path, size=size))


def test_generate_uses_the_pass_patches_and_makes_the_same_track(balls, tmp_path, monkeypatch):
    """A generate that analyses cuts the patches in its pass: no impact frame is decoded again,
    the Foley track equals the one made from a cached analysis (every patch decoded), and the
    patches are not kept with the result."""
    from studio.generate import GenerateSettings, generate

    calls = []
    real = media.iter_thumbnails
    monkeypatch.setattr(media, "iter_thumbnails", lambda *a, **k: calls.append(len(a[1])) or real(*a, **k))
    monkeypatch.setenv("STUDIO_CACHE_DIR", str(tmp_path / "cache"))
    settings = GenerateSettings(engines=("foley",), seed=5)
    first = generate(balls["hd30"], tmp_path / "a", settings)
    assert calls == [], calls  # every patch came from the pass
    second = generate(balls["hd30"], tmp_path / "b", settings)  # the analysis from the cache
    assert calls and calls[0] > 0
    a, b = ([t for t in p.tracks if t.events] for p in (first, second))
    assert len(a) == 1 and a[0].events and a[0].events == b[0].events
