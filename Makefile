# Two commands: `make run` (web + workers on the embedded default) and `make test` (the whole suite).
# Each does its own set-up: system packages, virtualenv, Python and npm packages, database.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
# The suite runs on this many pytest-xdist workers (`make test PYTEST_WORKERS=0` runs it in one process).
PYTEST_WORKERS ?= 2

.PHONY: run test bench setup setup-test system system-test lint clean

run: setup
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py serve --host $(HOST) --port $(PORT)

test: setup-test
	$(BIN)/python -m pytest --numprocesses $(PYTEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

bench: setup-test
	$(BIN)/python -m bench.backbone $(BENCH_ARGS)
	$(BIN)/python -m bench.backbone --transcribe --no-baseline --submits 5
	$(BIN)/python -m bench.asr
	$(BIN)/python -m bench.commentary $(BENCH_ARGS)
	$(BIN)/python -m bench.content
	$(BIN)/python -m bench.generate $(BENCH_ARGS)
	$(BIN)/python -m bench.throughput
	$(BIN)/python -m bench.batch

lint: setup-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

setup: system $(VENV)/.runtime-installed node_modules/.installed
setup-test: system-test $(VENV)/.test-installed node_modules/.installed

system:
	@scripts/ensure-system-packages ffmpeg ffprobe:ffmpeg espeak-ng npm /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf:fonts-dejavu-core

system-test: system
	@scripts/ensure-system-packages chromium tesseract:tesseract-ocr /usr/sbin/nginx:nginx /usr/share/doc/opencv-doc/examples/data/messi5.jpg:opencv-doc

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.runtime-installed: requirements.txt | $(VENV)/bin/python
	$(BIN)/python -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.test-installed: requirements.txt requirements-test.txt | $(VENV)/bin/python
	$(BIN)/python -m pip install -q -r requirements-test.txt
	touch $(VENV)/.runtime-installed $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

clean:
	rm -rf $(VENV) node_modules staticfiles
