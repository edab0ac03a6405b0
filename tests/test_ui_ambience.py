"""The Generate panel's Ambience entry (issue 20): a words field checked by the engine's own
parser as it is typed (the words it knows in the tooltip and completed), the shared seed, and
the words reaching `studio.generate` as the CLI's `--ambience WORDS` does; a word the engine does
not know is shown under the field and nothing is generated. Runs the shipped ambience engine."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

DEMO = Path(__file__).resolve().parents[1] / "studio" / "assets" / "demo.mp4"


@pytest.fixture
def panel(studio_app, qtbot):
    from ui.document import Document
    from ui.widgets.generate_panel import GeneratePanel

    p = GeneratePanel(Document())
    qtbot.addWidget(p)
    p.show()
    for cb in p.checks.values():
        cb.setChecked(False)
    return p


def test_words_field_shows_the_engines_error_and_completes_known_words(panel, qtbot):
    from engines.ambience.infer import known_words

    assert panel.ambience_words.isHidden()  # only with the Ambience engine checked
    panel.checks["ambience"].setChecked(True)
    assert panel.ambience_words.isVisible() and panel.seed.isVisible()
    assert all(w in panel.ambience_words.toolTip() for w in known_words())
    sent = []
    panel.generateRequested.connect(sent.append)

    qtbot.keyClicks(panel.ambience_words, "rain, lasers")
    assert panel.ambience_error.isVisible()
    assert panel.ambience_error.text().startswith("unknown ambience word 'lasers'; known words: alert, bell")
    qtbot.mouseClick(panel.generate_button, Qt.LeftButton)
    panel._generate()  # the button is disabled without an analysed video; the check is the panel's own
    assert sent == []

    panel.ambience_words.clear()
    qtbot.keyClicks(panel.ambience_words, "rain, ci")  # typing the second word
    c = panel.ambience_completer
    offered = [c.completionModel().index(i, 0).data() for i in range(c.completionCount())]
    assert offered == ["city"] and c.completionPrefix() == "rain, ci"
    got = []
    c.activated.connect(got.append)
    c.popup().setCurrentIndex(c.completionModel().index(0, 0))
    qtbot.keyClick(c.popup(), Qt.Key_Return)
    assert got == ["rain, city"]  # the words before it kept
    panel.ambience_words.setText(got[0])
    assert not panel.ambience_error.isVisible()
    panel.seed.setValue(11)
    panel._generate()
    assert [(s["engines"], s["ambience"], s["seed"]) for s in sent] == [(["ambience"], "rain, city", 11)]


def test_generate_from_the_panel_makes_an_ambience_track_with_the_words(window, qtbot):
    w = window
    w.controller.open_video(DEMO)
    qtbot.waitUntil(lambda: w.doc.analysis is not None and not w.controller.busy, timeout=120_000)
    gp = w.generate_panel
    for name, cb in gp.checks.items():
        cb.setChecked(name == "ambience")
    before = list(w.doc.project.tracks)
    errors = []
    w.controller.error.connect(lambda title, msg: errors.append(msg))

    gp.ambience_words.setText("battle, lasers")  # a word the engine does not know: nothing starts
    qtbot.mouseClick(gp.generate_button, Qt.LeftButton)
    assert gp.ambience_error.isVisible() and "unknown ambience word 'lasers'" in gp.ambience_error.text()
    assert not w.controller.busy and w.doc.project.tracks == before and errors == []
    # the core refuses it too (the controller plans with the adapter's check before any work)
    w.controller.generate({**gp.settings(), "engines": ["ambience"]})
    assert not w.controller.busy and w.doc.project.tracks == before
    assert len(errors) == 1 and "unknown ambience word 'lasers'" in errors[0]

    gp.ambience_words.setText("battle, Rain")
    gp.seed.setValue(5)
    qtbot.mouseClick(gp.generate_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not w.controller.busy and len(w.doc.project.tracks) == len(before) + 1, timeout=120_000)
    [t] = [t for t in w.doc.project.tracks if t.engine == "ambience"]
    assert t.name == "Ambience" and t.settings["words"] == ["gun", "water"] and t.settings["seed"] == 5
    assert t.settings["codes"] and len(t.settings["visual"]) == int(w.doc.project.duration_s + 0.999)
    assert w.doc.undo_stack.undoText() == "Generate ambience" and len(errors) == 1

    # re-generating the selected track with the Ambience box unchecked keeps the track's words
    gp.checks["ambience"].setChecked(False)
    w.doc.select(t.id)
    qtbot.mouseClick(gp.regen_track, Qt.LeftButton)
    qtbot.waitUntil(lambda: not w.controller.busy and w.doc.undo_stack.undoText().startswith("Re-generate"),
                    timeout=120_000)
    new = w.doc.track(t.id)
    assert new.settings["words"] == ["gun", "water"] and new.settings["seed"] == gp.seed.value() != 5
    assert new.settings["codes"] != t.settings["codes"]

    # "Re-generate loop region": the region's tokens made again between the track's own (one undo step)
    assert not gp.regen_region.isEnabled()  # no loop region yet
    w._loop_edited((1.0, 2.0))
    assert gp.regen_region.isEnabled()  # an audio track, no notes: enabled since the engine inpaints
    gp.checks["ambience"].setChecked(True)
    gp.ambience_words.setText("explosion")
    qtbot.mouseClick(gp.regen_region, Qt.LeftButton)
    qtbot.waitUntil(lambda: not w.controller.busy and "region" in w.doc.undo_stack.undoText(), timeout=120_000)
    assert w.doc.undo_stack.undoText().startswith("Re-generate region 1.00\u20132.00 s of Ambience")
    from studio.adapters.ambience import _frames, unpack_codes

    frames = _frames(new.settings)
    old_codes = unpack_codes(new.settings["codes"], frames)
    edited = w.doc.track(t.id)
    codes = unpack_codes(edited.settings["codes"], frames)
    assert np.array_equal(codes[:, :50], old_codes[:, :50]) and np.array_equal(codes[:, 100:], old_codes[:, 100:])
    assert not np.array_equal(codes[:, 50:100], old_codes[:, 50:100])
    assert edited.settings["edits"][-1]["words"] == ["explosion"] and edited.settings["words"] == ["gun", "water"]
    assert [x.id for x in w.doc.project.tracks].count(t.id) == 1 and len(errors) == 1
    w.doc.undo_stack.undo()
    assert w.doc.track(t.id).settings["codes"] == new.settings["codes"]
