# The README's two commands are `make up` and `make test`; everything they need is installed here.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install up test lint browser-deps gateway-deps clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

up: install
	$(BIN)/apim up

test: install browser-deps gateway-deps
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Debian's Chromium and its driver for the browser tests (installed when missing and root).
browser-deps:
	@if ! command -v chromedriver >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else \
	    echo "browser tests need Debian's chromium and chromium-driver: apt-get install chromium chromium-driver" >&2; exit 1; \
	  fi; \
	fi

# Debian's nginx, caddy and haproxy for tests/gateways (installed when missing and root).
# The tests only run the binaries, as the current user, on loopback ports of their own;
# the packages' own services are not started (a temporary policy-rc.d says so), so the
# install opens no listener.
GATEWAYS := nginx caddy haproxy
gateway-deps:
	@missing=""; \
	for g in $(GATEWAYS); do \
	  command -v $$g >/dev/null 2>&1 || [ -x /usr/sbin/$$g ] || missing="$$missing $$g"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    policy=/usr/sbin/policy-rc.d; own=""; \
	    if [ ! -e $$policy ]; then printf '#!/bin/sh\nexit 101\n' > $$policy; chmod 755 $$policy; own=1; fi; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	    status=$$?; [ -n "$$own" ] && rm -f $$policy; exit $$status; \
	  else \
	    echo "gateway tests need Debian's$$missing: apt-get install$$missing" >&2; exit 1; \
	  fi; \
	fi

clean:
	rm -rf $(VENV) data

# Benchmarks of issue #3 (several minutes); shrink or lengthen with BENCH_ARGS, e.g.
# make bench BENCH_ARGS=--quick   or the full 30-minute soak: BENCH_ARGS="--soak-seconds 1800"
.PHONY: bench
BENCH_ARGS ?=
bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)
