"""Spatial teacher: image sources + HRTFs (needs pyroomacoustics / h5py: the [train] extra)."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pyroomacoustics")

from engines.spatial import hrtf, teacher  # noqa: E402
from engines.spatial.rooms import PRESETS  # noqa: E402
from spatial_helpers import itd_ild  # noqa: E402


@pytest.mark.parametrize("name", list(PRESETS))
def test_measured_rt60_matches_sabine_eyring(name):
    c = teacher.rt60_check(PRESETS[name])
    for m, e, s in zip(c["measured_s"], c["eyring_s"], c["sabine_s"]):
        assert 0.85 * min(e, s) <= m <= 1.15 * max(e, s), c


@pytest.mark.parametrize("source", ["kemar", "spherical"])
def test_teacher_itd_ild_left_vs_right(source):
    if source == "kemar" and not hrtf.KEMAR_SOFA.exists():
        pytest.skip("libmysofa1's KEMAR set is not installed (packaging/debian-deps.sh)")
    h = hrtf.load_kemar() if source == "kemar" else hrtf.spherical_head()
    r = PRESETS["living_room"]
    lis = np.array(r.listener)
    yaw = 0.0  # facing +x: +y is the listener's left
    left = teacher.brir(r, lis + [0.0, 1.5, 0.0], lis, yaw, hrtf=h, length_s=0.1).ir
    right = teacher.brir(r, lis + [0.0, -1.5, 0.0], lis, yaw, hrtf=h, length_s=0.1).ir
    itd_l, ild_l = itd_ild(left)
    itd_r, ild_r = itd_ild(right)
    # a source at 90 degrees: the far ear lags by ~0.6-0.8 ms and is > 6 dB quieter
    assert 0.45e-3 <= itd_l <= 0.9e-3 and -0.9e-3 <= itd_r <= -0.45e-3
    assert ild_l > 6.0 and ild_r < -6.0
    # turning the head by 180 degrees swaps the ears
    turned = teacher.brir(r, lis + [0.0, 1.5, 0.0], lis, np.pi, hrtf=h, length_s=0.1).ir
    assert itd_ild(turned)[0] < -0.45e-3


def test_spherical_head_is_the_fallback_without_the_sofa_file(tmp_path):
    h = hrtf.default_hrtf(48000, 128, str(tmp_path / "absent.sofa"))
    assert h.source == "spherical" and h.ir.shape[1:] == (2, 128)


def test_direct_path_is_apart_and_reflections_follow():
    r = PRESETS["studio"]
    lis = np.array(r.listener)
    t = teacher.brir(r, lis + [1.0, 0.5, 0.0], lis, r.listener_yaw)
    rev = t.ir - t.direct
    d_on = int(np.argmax(np.abs(t.direct).max(0) > 0.1 * np.abs(t.direct).max()))
    r_on = int(np.argmax(np.abs(rev).max(0) > 0.1 * np.abs(rev).max()))
    assert abs(d_on - round(np.hypot(1.0, 0.5) / 343 * 48000)) < 40
    assert r_on > d_on and t.n_images > 1000
