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
    for name, fps, size in (("hd30", 30, (1280, 720)), ("hd60", 60, (1024, 576)), ("sd", 30, (854, 480)),
                            ("small", 30, (320, 240))):
        rf.bouncing_ball_video(d / f"{name}.mp4", fps=fps, size=size, duration_s=5.0, restitution=0.85,
                              gravity=1500.0 * size[1] / 240)
        out[name] = d / f"{name}.mp4"
    out["sd"] = _recoded(out["sd"], d / "sd-coarse.mp4")
    return out


def _recoded(src, dst):
    """``src`` coded again with B-frames and deblocking, as a camera's file is (the test videos'
    ultrafast preset has neither). The ball's patches come out the same either way; that the
    setting matters is shown on coarser texture (``sd_coarse``)."""
    import av

    with av.open(str(src)) as inp:
        return _x264_480p(dst, (f.reformat(format="yuv420p") for f in inp.decode(video=0)), crf=34)


def _x264_480p(path, frames, crf: int):
    """854x480 H.264 at 30 fps as x264 codes camera files (veryfast: B-frames, deblocking)."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 854, 480, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": str(crf), "bf": "3"}
        for frame in frames:
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def _served(path, **kw):
    tl = analyze(path, use_cache=False, contact_patches=True, **kw)
    patches = tl.extra.pop("contact_patches")
    return tl, patches, dict(patches.patches(list(tl.impacts)))


@pytest.mark.parametrize("name", ["hd30", "hd60", "sd"])
def test_every_contact_gets_the_patch_a_second_decode_cuts(balls, name):
    """At 480p the analysis frames skip deblocking (4x smaller) and a thumbnail by itself would
    not: the Foley engine's decode follows the analysis (``decode_like``)."""
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


def test_a_small_video_and_one_without_the_planar_path(balls, tmp_path):
    """320x240 (the thumbnail larger than the analysis frame, deblocking skipped by neither):
    every patch served, each the decoded one. Lossless RGB H.264 (planar GBR, no planar-YUV
    shrink to share): nothing served, every patch decoded, the same descriptors."""
    import videogen

    tl, _, got = _served(balls["small"])
    decoded = foley.impact_patches(balls["small"], list(tl.impacts))
    assert len(tl.impacts) >= 3 and all(np.array_equal(got[k], p) for k, p in enumerate(decoded))
    import av

    rf.bouncing_ball_video(tmp_path / "raw.mp4", fps=30, size=(320, 240), duration_s=3.0)

    with av.open(str(tmp_path / "raw.mp4")) as src:  # the same pictures as planar GBR
        frames = [f.to_ndarray(format="rgb24") for f in src.decode(video=0)]
    rgb = videogen.write_video(tmp_path / "rgb.mkv", lambda t: frames[min(len(frames) - 1, int(round(t * 30)))],
                               duration_s=3.0, fps=30, size=(320, 240), codec="libx264rgb", pix_fmt="rgb24")
    tl, patches, got = _served(rgb)
    assert len(tl.impacts) >= 2 and not patches.usable and all(p is None for p in got.values())
    assert np.array_equal(foley.impact_descriptors(rgb, list(tl.impacts), contact=patches),
                          foley.impact_descriptors(rgb, list(tl.impacts)))


@pytest.fixture(scope="module")
def portrait(tmp_path_factory):
    """A phone video: 1280x720 stored, shown turned 90 degrees (720x1280), moving texture. Its
    144-px thumbnails (80x144) are smaller than its 160-px analysis frames (90x160)."""
    import videogen

    rng = np.random.default_rng(4)
    tex = rng.integers(0, 255, (720, 1400, 3), np.uint8)
    path = tmp_path_factory.mktemp("portrait") / "phone.mp4"
    return videogen.write_video(path, lambda t: tex[:, int(t * 200):int(t * 200) + 1280].copy(),
                                duration_s=0.6, fps=30, size=(1280, 720), rotation=90)


@pytest.fixture(scope="module")
def sd_coarse(tmp_path_factory):
    """480p moving texture coded coarsely, with B-frames and x264's deblocking on (the test
    videos' ultrafast preset turns it off): skipping deblocking changes its pictures."""
    import av
    import cv2

    rng = np.random.default_rng(5)
    tex = cv2.GaussianBlur(rng.integers(0, 255, (480, 1000, 3), np.uint8), (0, 0), 2.0)
    frames = (av.VideoFrame.from_ndarray(np.ascontiguousarray(tex[:, 5 * k:5 * k + 854]), format="rgb24")
              for k in range(18))
    return _x264_480p(tmp_path_factory.mktemp("sd") / "coarse.mp4", frames, crf=38)


@pytest.mark.parametrize("which", ["hd30", "portrait", "sd_coarse"])
def test_half_made_thumbnails_finish_as_iter_thumbnails_makes_them(balls, portrait, sd_coarse, which):
    """Bit for bit (``decode_like`` the pass's size), landscape, a turned phone video and 480p,
    whole or a part at a time (``region``: INTER_AREA's period at 720p, the whole thumbnail for
    the turned one and 480p's long period), and the frames themselves are the same with the
    thumbnails as without. At 480p the
    analysis frames skip deblocking and the thumbnail's own size would not: without
    ``decode_like`` some pictures differ."""
    path = {"portrait": portrait, "sd_coarse": sd_coarse}.get(which, balls["hd30"])
    size = media.analysis_size(media.probe(path).video, 160)
    plain = list(media.iter_frames(path, size=size))
    kept = {}
    for k, fr in enumerate(media.iter_frames(path, size=size, thumbnail_height=144)):
        assert fr.thumbnail is not None and np.array_equal(fr.image, plain[k].image)
        if k % 3 == 1:
            kept[fr.time_s] = whole = fr.thumbnail.finish()
            for x0, y0, x1, y1 in ((0, 0, 36, 36), (37, 51, 73, 87), (k, 3, k + 29, 40), (200, 100, 256, 144),
                                   (61, 110, 80, 144)):
                assert np.array_equal(fr.thumbnail.region(x0, y0, x1, y1), whole[y0:y1, x0:x1])
    times = sorted(kept)
    assert len(times) >= 2
    for i, fr in media.iter_thumbnails(path, times, height=144, decode_like=size):
        assert fr.time_s == times[i] and np.array_equal(fr.image, kept[times[i]])
    assert kept[times[0]].shape == ((144, 80, 3) if which == "portrait" else (144, 256, 3))
    assert all(fr.thumbnail is None for fr in plain)
    if which == "sd_coarse":
        own = [fr.image for _, fr in media.iter_thumbnails(path, times, height=144)]
        assert any(not np.array_equal(a, kept[t]) for a, t in zip(own, times))


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


def test_frames_out_of_order_stop_the_patches_even_after_the_ring_emptied():
    """Broken timestamps: a frame that is not later than the last one makes every patch come
    from the decode (the ring lookup assumes time order), also when the ring was empty."""
    from types import SimpleNamespace

    from studio.analysis import AnalysisParams
    from studio.analysis.motion import PairStore

    patches = cp.ContactPatches(AnalysisParams(), 16 / 9)
    thumb = SimpleNamespace(nbytes=100, time_eps=1e-6)
    for t in (0.0, 0.04, 0.08):
        patches.frame(t, thumb)
    assert patches.usable
    patches.finish(PairStore((8, 6)))  # the pass is over: the ring is emptied
    patches.frame(0.05, thumb)
    assert not patches.usable
