# Two commands from a clean checkout:
#   make run    lean set-up (the run-time and GUI Debian packages, .venv, the project without
#               extras: no torch, Ray, PyInstaller or pose environment), then open the app on the
#               bundled demo video (without a display it says what to run and prints the CLI
#               analysis of the demo instead)
#   make test   full set-up (also the test Debian packages, torch, every extra, the pose
#               environment, the real clips) and run every test headless
# Each set-up has its own stamp, so `make test` after `make run` installs the rest.
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run
POSE_VENV ?= .venv-pose
DEMO   := studio/assets/demo.mp4

.PHONY: setup setup-run train-deps test run bench demo screenshots package gpu pose clean

setup: $(STAMP)

setup-run: $(RUN_STAMP)

# what running the app needs, nothing more
$(RUN_STAMP): pyproject.toml Makefile packaging/debian-deps.sh
	bash packaging/debian-deps.sh --run --gui
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e .
	touch $(RUN_STAMP)

# everything: tests, training, the cluster runner, the desktop bundle, the pose estimator
$(STAMP): pyproject.toml Makefile packaging/debian-deps.sh packaging/pose-env.sh packaging/pose-requirements.txt
	# --gui: Xvfb too, for the scripted walk-through test (tests/test_ui_walkthrough.py)
	bash packaging/debian-deps.sh --gui
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first, pinned to the CPU build on local disk, so the [train] range never pulls CUDA
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev,train,cluster,package]'
	# MediaPipe Pose for the performer engine, in its own environment (it needs NumPy 1)
	bash packaging/pose-env.sh $(POSE_VENV)
	# real footage for the sync figures and tests, from Debian packages (studio/realclips.py)
	$(PY) -m studio.realclips >/dev/null || echo "real clips not fetched: their tests are skipped" >&2
	touch $(STAMP)

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

run: $(RUN_STAMP)
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ] || [ -n "$$QT_QPA_PLATFORM" ]; then \
	  $(PY) -m ui $(DEMO); \
	else \
	  echo "make run: no display (DISPLAY and WAYLAND_DISPLAY are unset). To open the window anyway," >&2; \
	  echo "  on a virtual display:  xvfb-run -a make run    (xvfb: packaging/debian-deps.sh --gui)" >&2; \
	  echo "  or check it starts:    QT_QPA_PLATFORM=offscreen $(PY) -m ui --smoke-test $(DEMO)" >&2; \
	  echo "Showing the CLI analysis of the demo video instead:" >&2; \
	  $(PY) -m studio analyze $(DEMO); \
	fi

# the Debian packages the full training scripts read (lmms-common: the rhythm and performer
# engines' LMMS demo songs); the Python side comes with make setup ([train] extra, torch)
train-deps: $(STAMP)
	bash packaging/debian-deps.sh --train

screenshots: $(STAMP)
	bash packaging/debian-deps.sh --gui
	xvfb-run -a -s "-screen 0 1600x1000x24" $(PY) -m ui.screenshots docs/screenshots
	xvfb-run -a -s "-screen 0 1366x768x24" $(PY) -m ui.walkthrough docs/screenshots

# one-folder desktop bundle in dist/video-sound-studio/ (see packaging/README.md)
package: $(STAMP)
	$(VENV)/bin/pyinstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller packaging/studio.spec
	dist/video-sound-studio/video-sound-studio --version

# swap the CPU onnxruntime for onnxruntime-gpu (they must never be installed together)
gpu: $(STAMP)
	$(PIP) uninstall -y -q onnxruntime onnxruntime-gpu
	$(PIP) install -q 'onnxruntime-gpu>=1.17'
	$(PY) -m studio devices

# only the pose estimator's environment (make setup does it too)
pose:
	bash packaging/pose-env.sh $(POSE_VENV)

bench: $(STAMP)
	$(PY) -m studio bench

demo: $(STAMP)
	$(PY) -m studio.demo --out $(DEMO)
	$(PY) -m studio.demo_performers --out studio/assets

clean:
	rm -rf $(VENV) $(POSE_VENV) build dist *.egg-info .pytest_cache
