"""Foley engine DSP: modal synthesis, material presets, parameter vector, parameter analysis."""
from __future__ import annotations

import time

import numpy as np
import pytest
from scipy.signal.windows import blackmanharris

from engines.errors import EngineError
from engines.foley.analysis import estimate
from engines.foley.dsp import (
    MAX_TAIL_S, Hit, as_rendered, damped_modes, natural_duration_s, render_events, synthesize, to_stereo,
)
from engines.foley.materials import MATERIALS, material, preset, rayleigh_decay_dbps, rayleigh_fit
from engines.foley.params import (
    K_MODES, LEVEL_FLOOR_DB, N_BANDS, VECTOR_DIM, ModalParams, contact_gain_db, pack, unpack,
)

SILENT_BANDS = np.full(N_BANDS, LEVEL_FLOOR_DB)
SLOW_BANDS = np.full(N_BANDS, 100.0)


def modes_only(freqs, levels, decays, contact=1e-5):
    return ModalParams(freqs, levels, decays, SILENT_BANDS, SLOW_BANDS, contact)


def centroid(y, sr):
    s = np.abs(np.fft.rfft(y)) ** 2
    return float(np.sum(s * np.fft.rfftfreq(y.size, 1 / sr)) / np.sum(s))


# ------------------------------------------------------------------------------ synthesis

def test_synthesis_follows_the_modal_equation():
    sr = 48_000
    f = np.array([220.0, 1234.5, 5555.0, 17_000.0])
    p_db = np.array([-12.0, -20.0, -30.0, -26.0])
    lam = np.array([20.0, 150.0, 900.0, 3000.0])
    par = modes_only(f, p_db, lam, contact=3e-4)
    y = synthesize(par, sr, 1.3)
    t = np.arange(y.size) / sr
    g = contact_gain_db(f, 3e-4)
    ref = np.sum(10 ** ((p_db + g)[:, None] / 20 - lam[:, None] * t / 20)
                 * np.sin(2 * np.pi * f[:, None] * t), axis=0)
    assert y.dtype == np.float32 and y.shape == (int(round(1.3 * sr)),)
    assert np.max(np.abs(y - ref)) < 1e-5 * np.max(np.abs(ref))


def test_block_evaluation_has_no_drift_over_long_tails():
    sr = 44_100
    n = 8 * sr
    y = damped_modes([440.0], [1.0], [1.0], sr, n)  # 8 s, barely decaying
    t = np.arange(n - 2000, n) / sr
    ref = np.exp(-t / 8.685889638) * np.sin(2 * np.pi * 440.0 * t)
    assert np.max(np.abs(y[-2000:] - ref)) < 1e-5


def test_onset_is_sample_zero_and_seed_is_deterministic():
    par = preset("wood", 0.5, 0.8, rng=3)
    a = synthesize(par, 48_000, seed=5)
    b = synthesize(par, 48_000, seed=5)
    c = synthesize(par, 48_000, seed=6)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a[0] != 0.0  # the contact transient (residual) starts at full variance at sample 0
    # the modes start at exactly 0 with zero phase: first sample of the mode part is 0
    assert damped_modes([1000.0], [1.0], [10.0], 48_000, 10)[0] == 0.0


def test_same_mode_frequencies_at_44k1_and_48k():
    par = modes_only([523.25, 1401.0, 3307.0, 9001.0], [-10, -16, -20, -24], [30, 60, 120, 300])
    ests = [estimate(synthesize(par, sr, 1.0), sr) for sr in (44_100, 48_000)]
    for est in ests:
        assert est.n_modes == 4
        np.testing.assert_allclose(est.freqs_hz, par.freqs_hz, rtol=2e-4)
    np.testing.assert_allclose(ests[0].freqs_hz, ests[1].freqs_hz, rtol=2e-4)


def test_modes_above_nyquist_are_dropped():
    sr = 16_000
    low = modes_only([700.0], [-10.0], [50.0])
    both = modes_only([700.0, 10_000.0], [-10.0, -6.0], [50.0, 50.0])
    y_low, y_both = synthesize(low, sr, 0.5), synthesize(both, sr, 0.5)
    assert np.array_equal(y_low, y_both)  # no alias at 6 kHz
    spec = np.abs(np.fft.rfft(synthesize(both, 48_000, 0.5)))
    assert spec[int(10_000 * 0.5)] > 100 * spec[int(6_000 * 0.5)]  # kept where it fits


def test_tail_length():
    sr = 48_000
    one = modes_only([1000.0], [-10.0], [200.0])
    # rendered until 90 dB under the hit (-100 dBFS here)
    assert natural_duration_s(one) == pytest.approx(90.0 / 200.0, rel=1e-3)
    y = synthesize(one, sr)
    assert y.size == int(round(0.45 * sr))
    assert 20 * np.log10(np.max(np.abs(y[-480:]))) < -98.0
    # a ring that would need 45 s is not cut at the cap: it decays a little faster instead
    long = synthesize(modes_only([500.0], [-10.0], [2.0]), sr)
    assert long.size == int(MAX_TAIL_S * sr)
    assert 20 * np.log10(np.max(np.abs(long[-480:]))) < -98.0
    assert synthesize(one, 22_050, 0.123).size == int(round(0.123 * 22_050))
    assert synthesize(one, sr, 0.0).size == 0
    with pytest.raises(EngineError):
        synthesize(one, sr, -1.0)
    with pytest.raises(EngineError):
        synthesize(one, 0)


def test_residual_bands_have_the_stated_rms_and_decay():
    sr = 48_000
    for b in (1, 4, 7):
        lv = SILENT_BANDS.copy()
        lv[b] = -20.0
        par = ModalParams([], [], [], lv, np.full(N_BANDS, 60.0), 1e-5)
        y = np.stack([synthesize(par, sr, 1.0, seed=s) for s in range(8)])
        seg = [10 * np.log10(np.mean(y[:, i:i + 4800] ** 2)) for i in range(0, sr, 4800)]
        t = (np.arange(len(seg)) * 4800 + 2400) / sr
        slope, icpt = np.polyfit(t, seg, 1)
        assert slope == pytest.approx(-60.0, rel=0.08)
        assert icpt == pytest.approx(-20.0 + contact_gain_db([62.5 * 2 ** b], 1e-5)[0], abs=0.6)
        spec = np.abs(np.fft.rfft(y[0])) ** 2
        fk = np.fft.rfftfreq(sr, 1 / sr)
        cb = 62.5 * 2 ** b
        inside = spec[(fk > cb / 1.3) & (fk < cb * 1.3)].mean()
        outside = spec[(fk > cb * 4) | (fk < cb / 4)].mean()
        assert inside > 1000 * outside


def test_render_events_places_hits_sample_accurately():
    sr = 48_000
    par = preset("glass", 0.3, 0.7, rng=1)
    times = [0.010, 0.2500104, 0.61]
    short = modes_only([800.0], [-20.0], [400.0])  # over after 0.18 s
    out = render_events([(t, par) for t in times] + [Hit(-1.0, short), Hit(5.0, par)], sr, sr)
    starts = [int(round(t * sr)) for t in times]
    assert np.all(out[: starts[0]] == 0.0)
    # between the first two hits only the first one sounds; each hit adds exactly its synthesis
    y0 = synthesize(par, sr, seed=0)
    np.testing.assert_array_equal(out[starts[0]:starts[1]], y0[: starts[1] - starts[0]])
    y2 = synthesize(par, sr, (sr - starts[2]) / sr, seed=2)
    rest = out.copy()
    rest[starts[2]:] -= y2
    assert np.allclose(rest[starts[2]:], render_events([(t, par) for t in times[:2]], sr, sr)[starts[2]:],
                       atol=1e-6)
    # the hit at -1 s is over, 5 s is outside the buffer; a hit before 0 is cut, not shifted
    assert out.shape == (sr,) and np.isfinite(out).all()
    cut = render_events([Hit(-0.1, par, 0.5)], sr, sr // 2, seed=3)
    np.testing.assert_allclose(cut, 0.5 * synthesize(par, sr, seed=3)[sr // 10: sr // 10 + sr // 2],
                               atol=1e-6)
    st = to_stereo(out, 0.5)
    assert st.shape == (2, sr) and np.all(np.abs(st[1]) >= np.abs(st[0]))


def test_synthesis_speed_of_a_typical_hit():
    sr = 48_000
    par = preset("metal", 0.5, 0.5, rng=0)
    par = ModalParams(np.linspace(300, 9000, K_MODES), np.full(K_MODES, -20.0),
                      np.linspace(20, 400, K_MODES), par.band_levels_db, par.band_decays_dbps, 2e-4)
    synthesize(par, sr, 1.0)
    runs = []
    for i in range(20):
        t0 = time.perf_counter()
        synthesize(par, sr, 1.0, seed=i)
        runs.append(time.perf_counter() - t0)
    ms = 1e3 * float(np.median(runs))
    print(f"\nsynthesis of a 1 s, {K_MODES}-mode hit at 48 kHz: {ms:.2f} ms (median of 20)")
    assert ms < 25.0  # generous: the machine is shared; typically ~1.5 ms


# ------------------------------------------------------------------------------ presets

@pytest.mark.parametrize("name", list(MATERIALS))
def test_presets_are_plausible(name):
    par = preset(name, 0.5, 0.5, rng=7)
    assert 1 <= par.n_modes <= K_MODES
    assert np.all(np.diff(par.freqs_hz) > 0) and par.freqs_hz.max() < 20_000
    # Rayleigh damping: decay grows with frequency (up to the +-15 % per-mode jitter)
    assert np.all(par.decays_dbps[1:] >= par.decays_dbps[:-1] / 1.15 - 1e-9)
    y = synthesize(par, 48_000)
    assert np.isfinite(y).all() and 1e-3 < np.max(np.abs(y)) < 1.0
    assert 0.01 <= y.size / 48_000 <= MAX_TAIL_S


@pytest.mark.parametrize("name", list(MATERIALS))
def test_strength_raises_level_and_brightness(name):
    sr = 48_000
    soft = synthesize(preset(name, 0.5, 0.15, rng=11), sr, 0.3)
    hard = synthesize(preset(name, 0.5, 0.95, rng=11), sr, 0.3)
    assert np.sqrt(np.mean(hard ** 2)) > 10 * np.sqrt(np.mean(soft ** 2))  # > 20 dB
    # (metal and glass contacts are so short that the change is small, but it is there)
    assert centroid(hard, sr) > 1.02 * centroid(soft, sr)


@pytest.mark.parametrize("name", ["metal", "glass", "wood", "drywall", "cloth"])
def test_size_lowers_pitch(name):
    small, large = preset(name, 0.1, 0.5, rng=4), preset(name, 0.9, 0.5, rng=4)
    assert large.freqs_hz[0] < 0.5 * small.freqs_hz[0]
    sr = 48_000
    assert centroid(synthesize(large, sr, 0.3), sr) < centroid(synthesize(small, sr, 0.3), sr)


def test_material_names_and_ranges_are_checked():
    assert material("Carpet").name == "cloth" and material("steel").name == "metal"
    with pytest.raises(EngineError):
        preset("unobtainium")
    with pytest.raises(EngineError):
        preset("wood", size=1.5)
    with pytest.raises(EngineError):
        ModalParams([100.0], [0.0], [-1.0], SILENT_BANDS, SLOW_BANDS)


def test_rayleigh_fit_hits_the_loss_factor_at_both_anchors():
    eta, f1, f2 = 0.01, 200.0, 3200.0
    a, b = rayleigh_fit(eta, f1, f2)
    # lambda = 8.686 * zeta * w  with zeta = eta / 2 at the anchors
    for f in (f1, f2):
        assert rayleigh_decay_dbps(f, a, b) == pytest.approx(8.685889638 * eta / 2 * 2 * np.pi * f)
    assert rayleigh_decay_dbps(20 * f2, a, b) > 10 * rayleigh_decay_dbps(f2, a, b)


def test_contact_pulse_gain():
    tau = 1e-3
    g = contact_gain_db([0.0, 500.0, 1000.0, 1500.0, 3000.0, 15_000.0], tau)
    assert g[0] == pytest.approx(0.0, abs=1e-9)
    assert g[2] == pytest.approx(20 * np.log10(0.5))  # raised cosine: 1/2 at f = 1/tau
    assert np.all(np.diff(g) < 0)  # monotone (nulls replaced by the side-lobe envelope)
    assert g[-1] - g[-2] == pytest.approx(-60 * np.log10(5), abs=1.5)  # ~ -60 dB/decade


# ------------------------------------------------------------------------------ vector layout

def test_pack_unpack_round_trip():
    par = preset("ceramic", 0.4, 0.6, rng=2)
    v = pack(par)
    assert v.dtype == np.float32 and v.shape == (VECTOR_DIM,) == (3 * K_MODES + 2 * N_BANDS + 1,)
    back = unpack(v)
    assert back.n_modes == par.n_modes
    np.testing.assert_allclose(back.freqs_hz, par.freqs_hz, rtol=1e-5)
    np.testing.assert_allclose(back.levels_db, par.levels_db, atol=1e-3)
    np.testing.assert_allclose(back.decays_dbps, par.decays_dbps, rtol=1e-4)
    np.testing.assert_allclose(back.band_levels_db, par.band_levels_db, atol=1e-3)
    assert back.contact_s == pytest.approx(par.contact_s, rel=1e-4)
    modes = v[: 3 * K_MODES].reshape(K_MODES, 3)
    assert np.all(np.diff(modes[:, 0]) >= 0)  # sorted by frequency, pads last
    assert np.all(modes[par.n_modes:, 1] < -1.0)  # pads are silent
    assert np.all(np.abs(v[np.isfinite(v)]) <= 1.5)
    # any vector in range decodes, and re-encodes to itself
    rng = np.random.default_rng(0)
    w = rng.uniform(-1, 1, VECTOR_DIM).astype(np.float32)
    m = w[: 3 * K_MODES].reshape(K_MODES, 3)
    m[:, 0] = np.sort(m[:, 0])
    np.testing.assert_allclose(pack(unpack(w)), w, atol=2e-5)
    with pytest.raises(EngineError):
        unpack(np.zeros(VECTOR_DIM - 1))
    with pytest.raises(EngineError):
        unpack(np.full(VECTOR_DIM, np.nan))


def test_pack_keeps_the_loudest_modes():
    f = np.linspace(100, 10_000, 30)
    lv = np.where(np.arange(30) % 2 == 0, -10.0, -40.0)
    par = modes_only(f, lv, np.full(30, 50.0))
    back = unpack(pack(par))
    assert back.n_modes == K_MODES
    assert np.sum(back.levels_db > -11) == 15  # all 15 loud ones, then one of the quiet ones


# ------------------------------------------------------------------------------ analysis

def resolvable(par: ModalParams, sr: int, y: np.ndarray, noise: np.ndarray | None = None) -> np.ndarray:
    """Objective 'well resolved' flags. A mode counts when
    (a) its level is within 40 dB of the strongest;
    (b) it lasts: 60 dB of decay take >= 50 ms (lambda <= 1200 dB/s) and, with added steady
        noise, it stays above that noise (same frame as in (c)) for >= 50 ms;
    (c) in a 40 ms Blackman-Harris frame at the onset, its own DFT at its frequency is >= 6 dB
        above that of everything else in the analysed signal y (other modes, residual, noise);
    (d) no mode within 20 dB of it lies closer than the resolution its life allows,
        6 / T Hz with T = min(0.17 s, 60 dB / lambda)."""
    n = 2048 if sr >= 44_100 else 1024
    w = blackmanharris(n)
    full = np.asarray(y[:n], float)
    eff = par.effective_levels_db()
    inband = par.freqs_hz < sr / 2
    top = eff[inband].max()
    ok = np.zeros(par.n_modes, bool)
    for i in np.flatnonzero(inband):
        own = damped_modes(par.freqs_hz[i:i + 1], [10 ** (eff[i] / 20)], par.decays_dbps[i:i + 1],
                           sr, n).astype(float)
        ph = np.exp(-2j * np.pi * par.freqs_hz[i] * np.arange(n) / sr) * w
        clear = 20 * np.log10(abs(own @ ph) / (abs((full - own) @ ph) + 1e-30)) >= 6.0
        lasts = par.decays_dbps[i] <= 1200
        if noise is not None:
            above = 20 * np.log10(abs(own @ ph) / abs(np.asarray(noise[:n], float) @ ph))
            lasts &= above / par.decays_dbps[i] >= 0.05
        life = min(0.17, 60.0 / par.decays_dbps[i])
        near = (np.abs(par.freqs_hz - par.freqs_hz[i]) < 6.0 / life) & (eff >= eff[i] - 20)
        near[i] = False
        ok[i] = clear and lasts and not near.any() and eff[i] >= top - 40
    return ok


def recovery(par: ModalParams, est: ModalParams, ok: np.ndarray):
    """(#resolvable modes recovered within 1 % frequency and 10 % decay, #resolvable)."""
    good = 0
    for i in np.flatnonzero(ok):
        if est.n_modes == 0:
            continue
        j = int(np.argmin(np.abs(est.freqs_hz - par.freqs_hz[i])))
        good += (abs(est.freqs_hz[j] / par.freqs_hz[i] - 1) < 0.01
                 and abs(est.decays_dbps[j] / par.decays_dbps[i] - 1) < 0.10)
    return good, int(ok.sum())


@pytest.mark.parametrize("noise_db", [None, -50.0])
def test_estimate_recovers_synthesised_modes(noise_db):
    sr = 48_000
    good = total = 0
    per_material = {}
    for k, name in enumerate(MATERIALS):
        for seed in range(3):
            # truth = what is rendered (rings longer than MAX_TAIL_S decay a little faster)
            par = as_rendered(preset(name, 0.5, 0.7, rng=100 * k + seed), sr)
            y = synthesize(par, sr, seed=seed).astype(np.float64)
            noise = None
            if noise_db is not None:  # steady white noise, noise_db re the hit's peak
                noise = np.random.default_rng(seed).standard_normal(y.size)
                noise *= np.max(np.abs(y)) * 10 ** (noise_db / 20)
                y = y + noise
            ok = resolvable(par, sr, y, noise)
            g, t = recovery(par, estimate(y, sr), ok)
            good, total = good + g, total + t
            per_material[name] = np.add(per_material.get(name, (0, 0)), (g, t))
    print(f"\nrecovered {good}/{total} resolvable modes (noise {noise_db} dB): "
          + ", ".join(f"{m} {g}/{t}" for m, (g, t) in per_material.items()))
    assert total >= 60
    # measured: 70/74 clean, 67/69 with noise (issue 17 presets; 93/97 and 82/89 before); misses
    # are dense low clusters inside strong residual noise (drywall) that the 15 dB detection
    # threshold leaves out on purpose
    assert good >= (0.93 if noise_db is None else 0.88) * total
    for name in ("metal", "glass", "ceramic"):  # clean, ringing materials: all of them
        g, t = per_material[name]
        assert g >= t - 1


def test_estimate_levels_and_resynthesis():
    sr = 44_100
    par = modes_only([180.0, 410.0, 955.0, 2210.0, 4800.0], [-8, -14, -12, -22, -30],
                     [15, 40, 90, 260, 700], contact=1e-5)
    est = estimate(synthesize(par, sr), sr)
    assert est.n_modes == 5
    np.testing.assert_allclose(est.effective_levels_db(), par.effective_levels_db(), atol=0.5)
    np.testing.assert_allclose(est.decays_dbps, par.decays_dbps, rtol=0.02)
    # the captured physics re-synthesises the recording (same zero-phase modes)
    y = synthesize(par, sr)
    again = synthesize(est, sr, y.size / sr)
    assert 10 * np.log10(np.sum((again - y) ** 2) / np.sum(y ** 2)) < -40.0
    assert estimate(y, sr, max_modes=3).n_modes == 3
    # an onset later in the file is found, and a recording in (channels, samples) works
    rec = np.concatenate([np.zeros(3000, np.float32), y])
    est2 = estimate(np.stack([rec, rec]), sr)
    np.testing.assert_allclose(est2.freqs_hz, par.freqs_hz, rtol=1e-3)
    np.testing.assert_allclose(est2.effective_levels_db(), par.effective_levels_db(), atol=0.5)


def test_estimate_residual_bands():
    sr = 48_000
    lvl_err, dec_err = [], []
    for k, name in enumerate(["metal", "wood", "stone", "drywall", "paper", "cloth"]):
        p = preset(name, 0.5, 0.7, rng=k)
        par = ModalParams([], [], [], p.band_levels_db, p.band_decays_dbps, p.contact_s)
        est = estimate(synthesize(par, sr, max(natural_duration_s(par), 0.3), seed=k), sr)
        true = par.effective_band_levels_db()
        sel = true > true.max() - 20  # bands that carry the residual
        lvl_err += list(np.abs(est.effective_band_levels_db() - true)[sel])
        dec_err += list(np.abs(est.band_decays_dbps / par.band_decays_dbps - 1)[sel])
    print(f"\nresidual bands: median |level error| {np.median(lvl_err):.2f} dB, "
          f"median decay error {100 * np.median(dec_err):.1f} %")
    assert np.median(lvl_err) < 3.0
    assert np.median(dec_err) < 0.25


def test_estimate_rejects_bad_input():
    with pytest.raises(EngineError):
        estimate(np.zeros(48_000), 48_000)
    with pytest.raises(EngineError):
        estimate(np.ones(10), 48_000)
    with pytest.raises(EngineError):
        estimate(np.full(4800, np.nan), 48_000)
    with pytest.raises(EngineError):
        estimate(np.ones(4800), 48_000, max_modes=0)
