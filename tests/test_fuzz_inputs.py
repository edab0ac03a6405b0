"""Bounded fuzzing (Hypothesis) of the model manifest and of the CLI's option values: any JSON a
manifest may hold is either used or refused with a ModelError; any value typed for a generate
option is either accepted or refused before any work with one line, exit 2 (never an internal
error, never a folder written)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from engines import runtime
from engines.errors import ModelError

REPO = Path(__file__).resolve().parents[1]
SHIPPED = json.loads((REPO / "engines" / "models" / "manifest.json").read_text())
NAME = "rhythm_groove"  # a small shipped model

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40), st.floats(allow_nan=False),
                      st.text(max_size=20))
json_value = st.recursive(json_leaf, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                             st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                          max_leaves=12)
fields = st.sampled_from(["file", "sha256", "inputs", "outputs"])


def _check(models_dir: Path) -> None:
    runtime.clear_cache()
    try:
        runtime.verify(runtime.model_info(NAME, models_dir))
    except ModelError as exc:
        assert str(exc) and "\n" not in str(exc)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(manifest=json_value)
@example(manifest={"\n": None})  # a name with a line break once broke the one-line message
def test_any_manifest_json_is_used_or_a_model_error(tmp_path, manifest):
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    _check(tmp_path)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=fields, value=json_value, drop=st.booleans())
def test_a_damaged_entry_of_the_real_manifest_is_a_model_error(tmp_path, field, value, drop):
    entry = dict(SHIPPED[NAME])
    if drop:
        entry.pop(field, None)
    else:
        entry[field] = value
    (tmp_path / "manifest.json").write_text(json.dumps({NAME: entry}))
    model = REPO / "engines" / "models" / SHIPPED[NAME]["file"]
    (tmp_path / model.name).write_bytes(model.read_bytes())
    _check(tmp_path)


number_text = st.one_of(st.floats().map(repr), st.integers(-10**12, 10**12).map(str),
                        st.sampled_from(["nan", "inf", "-inf", "1e309", "", " ", "0x10", "1_000", "½"]),
                        st.text(max_size=6))
option = st.sampled_from(["--bpm", "--seed", "--downbeat", "--tempo-factor", "--material", "--loudness",
                          "--steps", "--cfg"])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(opt=option, value=number_text)
def test_any_option_value_is_accepted_or_one_line_before_any_work(tmp_path, capsys, opt, value):
    from studio.cli import main

    existing = tmp_path / "existing"
    existing.mkdir(exist_ok=True)
    (existing / "project.json").write_text("{}")  # a good value stops at "already exists": no engine runs
    before = sorted(p.name for p in existing.iterdir())
    try:
        rc = main(["-q", "generate", str(REPO / "studio" / "assets" / "demo.mp4"), "--rhythm", "--out",
                   str(existing), f"{opt}={value}"])
    except SystemExit as exc:  # argparse's own refusal (a value that is not a number at all)
        rc = exc.code
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err, (opt, value, err)
    assert "internal error" not in "\n".join(err) and "Traceback" not in "\n".join(err)
    assert sorted(p.name for p in existing.iterdir()) == before  # nothing written
