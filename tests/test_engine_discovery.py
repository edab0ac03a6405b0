"""Engines are self-describing adapter modules found by listing ``studio.adapters``: an adapter
file dropped into the package is offered everywhere (ENGINE_NAMES, available_engines, the CLI
flags, the Generate panel) with no other edit, and taking it away takes it away again."""
from __future__ import annotations

import subprocess
import sys

import pytest

from studio import adapters, cli, generate

FAKE = '''"""A fake engine's adapter (tests/test_engine_discovery.py)."""
from __future__ import annotations

import numpy as np  # heavy imports are fine: the metadata is read without importing this

ORDER = 45  # between piano (40) and performer (50)
LABEL = "Fake engine"
HELP = "fake sounds at LEVEL"
TOOLTIP = "fake sounds (a test engine)"
METAVAR = "LEVEL"
VALUE = "fake_level"
CLI_ARGS = (("--fake-depth", "fake_depth", {"type": "int", "metavar": "N", "help": "fake: depth"}),)


def generate(project, timeline, settings, job):
    return []
'''
ORIGINAL = ("rhythm", "foley", "soundtrack", "ambience", "piano", "performer", "spatial")


@pytest.fixture
def plugin_dir(tmp_path):
    """A second folder of the studio.adapters package (as an installed plug-in would add); the
    discovery state is as before afterwards."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    saved = {name: getattr(generate, name) for name in ("ENGINE_NAMES", "ON_REQUEST", "ADAPTERS")}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(adapters, "__path__", [*adapters.__path__, str(folder)])
        yield folder
    sys.modules.pop(adapters.module_name("fake"), None)
    adapters.rescan()  # the package's own adapters again
    for name, value in saved.items():
        setattr(generate, name, value)


def test_the_engines_describe_themselves_in_the_known_order():
    assert adapters.discover() == adapters.ENGINE_NAMES  # as found at import
    assert adapters.ENGINE_NAMES == generate.ENGINE_NAMES == ORIGINAL
    assert generate.ON_REQUEST == ("ambience", "piano", "performer")
    assert adapters.info("spatial").metavar == "ROOM" and adapters.info("spatial").value == "room"
    assert adapters.info("rhythm").label == "Rhythm" and adapters.info("nowhere").label == "Nowhere"


def _flags(capsys) -> str:
    """``studio generate --help``."""
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["generate", "--help"])
    return capsys.readouterr().out


def test_a_dropped_adapter_is_offered_everywhere_then_gone_when_removed(plugin_dir, qtbot, capsys):
    from ui.document import Document
    from ui.widgets.generate_panel import GeneratePanel

    (plugin_dir / "fake.py").write_text(FAKE)
    (plugin_dir / "_helpers.py").write_text("ORDER = 1\n")  # '_' modules are not adapters
    assert generate.rescan() == ("rhythm", "foley", "soundtrack", "ambience", "piano", "fake", "performer", "spatial")
    assert adapters.module_name("fake") not in sys.modules  # metadata read without importing it
    assert "fake" in generate.available_engines() and "fake" not in generate.ON_REQUEST
    assert "fake" in generate.default_engines()  # not ON_REQUEST: it runs by default
    help_text = _flags(capsys)
    assert "--fake LEVEL" in help_text and "fake sounds at LEVEL" in help_text and "--fake-depth N" in help_text
    assert help_text.index("--piano") < help_text.index("--fake LEVEL") < help_text.index("--performer")

    args = cli.build_parser().parse_args(["generate", "v.mp4", "--out", "o", "--rhythm", "--fake", "loud",
                                          "--fake-depth", "3", "--spatial", "hall"])
    s = cli._settings(args)
    assert s.engines == ("rhythm", "fake", "spatial") and s.room == "hall"
    assert s.options["fake_level"] == "loud" and s.options["fake_depth"] == 3
    assert generate.engine_adapter("fake")(None, None, s, None) == []

    doc = Document()
    panel = GeneratePanel(doc)
    qtbot.addWidget(panel)
    assert "fake" in panel.checks
    assert panel.checks["fake"].text() == "Fake engine"
    assert panel.checks["fake"].toolTip() == "fake sounds (a test engine)"

    (plugin_dir / "fake.py").unlink()
    sys.modules.pop(adapters.module_name("fake"), None)
    assert generate.rescan() == ORIGINAL
    assert "fake" not in generate.available_engines() and "fake" not in generate.ADAPTERS
    assert "--fake" not in _flags(capsys)
    panel.refresh()
    assert "fake" not in panel.checks
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["generate", "v.mp4", "--out", "o", "--fake", "loud"])


def test_help_imports_no_adapter_and_nothing_heavy():
    code = ("import sys, contextlib, io\n"
            "from studio import cli\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try: cli.build_parser().parse_args(['generate', '--help'])\n"
            "    except SystemExit: pass\n"
            "heavy = [m for m in sys.modules if m.split('.')[0] in ('numpy', 'onnxruntime', 'PySide6')\n"
            "         or m.startswith('studio.adapters.')]\n"
            "print(heavy)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_metadata_that_is_not_a_plain_literal_is_read_by_importing(plugin_dir):
    (plugin_dir / "computed.py").write_text('WORD = "computed"\nORDER = 95\nHELP = WORD + " sounds"\n'
                                            'def generate(project, timeline, settings, job):\n    return []\n')
    try:
        assert generate.rescan()[-1] == "computed"  # after spatial (90)
        assert adapters.info("computed").help == "computed sounds"
    finally:
        sys.modules.pop(adapters.module_name("computed"), None)
