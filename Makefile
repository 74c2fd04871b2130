# compound-edge: two commands for a fresh machine, `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
SHARED ?= $(abspath ../shared)
export EDGE_SHARED := $(SHARED)
APT_PACKAGES := mosquitto mosquitto-clients libopenblas-dev liblapack-dev cmake chromium fonts-wqy-microhei nats-server

.PHONY: demo test lint bench soak system-deps venv clean

# Debian packages the project needs: the broker and its clients (mosquitto_sub, which the demo suggests), BLAS for
# dlib (4x faster encodings), chromium for the browser tests, a Chinese font (the console in zh-CN).
# Installed only when missing, so a prepared machine does nothing here.
system-deps: .system-deps.stamp
.system-deps.stamp: Makefile
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
	@touch $@

# The venv; dlib builds from source once (about 7 minutes) after OpenBLAS is there, and pip caches the wheel.
venv: $(VENV)/.stamp
$(VENV)/.stamp: pyproject.toml | .system-deps.stamp
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "setuptools<81" wheel
	$(PIP) install -q -e ".[dev,faces]"
	@touch $@

# Style, layers and types: ruff, the layer contracts of docs/architecture.md (import-linter), mypy --strict.
lint: venv
	$(VENV)/bin/ruff check edge drivers simulators tests bench
	$(VENV)/bin/ruff format --check edge drivers simulators tests bench
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

test: venv lint
	$(VENV)/bin/pytest -q -p no:cacheprovider

demo: venv
	$(VENV)/bin/edge demo

bench: venv
	$(PY) -m bench.run_all

soak: venv
	$(PY) -m bench.soak

clean:
	rm -rf $(VENV) .system-deps.stamp
