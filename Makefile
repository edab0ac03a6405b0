# Two commands from a clean checkout:
#   make test   set up (Debian packages, .venv, project + its extras) and run every test headless
#   make run    same set-up, then open the app on the bundled demo video (needs a display;
#               without one it says so and prints the CLI analysis of the demo instead)
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed
POSE_VENV ?= .venv-pose
DEMO   := studio/assets/demo.mp4

.PHONY: setup test run bench demo screenshots package gpu pose clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile packaging/debian-deps.sh packaging/pose-env.sh packaging/pose-requirements.txt
	bash packaging/debian-deps.sh
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

run: $(STAMP)
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ] || [ -n "$$QT_QPA_PLATFORM" ]; then \
	  $(PY) -m ui $(DEMO); \
	else \
	  echo "make run: no display (DISPLAY/WAYLAND_DISPLAY unset); try 'xvfb-run make run'." >&2; \
	  echo "Showing the CLI analysis of the demo video instead:" >&2; \
	  $(PY) -m studio analyze $(DEMO); \
	fi

screenshots: $(STAMP)
	bash packaging/debian-deps.sh --gui
	xvfb-run -a -s "-screen 0 1600x1000x24" $(PY) -m ui.screenshots docs/screenshots

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
