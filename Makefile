# Two commands from a clean checkout:
#   make test   set up (Debian packages, .venv, project + [dev]) and run every test headless
#   make run    same set-up, then open the bundled demo video
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed
DEMO   := studio/assets/demo.mp4
export QT_QPA_PLATFORM ?= offscreen

.PHONY: setup test run bench demo clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile packaging/debian-deps.sh
	bash packaging/debian-deps.sh
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first, pinned to the CPU build on local disk, so the [train] range never pulls CUDA
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev,train]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

run: $(STAMP)
	$(PY) -m studio analyze $(DEMO)

bench: $(STAMP)
	$(PY) -m studio bench

demo: $(STAMP)
	$(PY) -m studio.demo --out $(DEMO)

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
