# The interpretability lab. `make demo` and `make test` each work on a fresh machine:
# they create the virtual environment, install the pinned requirements and fetch the data.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STORE ?= lab-store
PORT ?= 8501
# tcmalloc makes CPU training ~1.6x faster (large logits thrash the default malloc).
TCMALLOC := $(firstword $(wildcard /usr/lib/*/libtcmalloc.so.4 /usr/lib/libtcmalloc.so.4))
RUN := $(if $(TCMALLOC),LD_PRELOAD=$(TCMALLOC)) PYTHONUNBUFFERED=1

.PHONY: demo test test-slow test-all data store bench browser clean help

help:
	@echo "make demo       build the tiny ladder store (if missing) and open the dashboard"
	@echo "make test       run the default test suite (about 5 minutes on 2 cores)"
	@echo "make test-slow  run the slow checks (preset trainings, large benchmarks)"
	@echo "make bench      run the benchmarks in bench/ (figures go in bench/RESULTS.md)"

# The project itself is installed in editable mode, so `import store` and `python -m jobs`
# work from any directory. --no-build-isolation builds it with the venv's own setuptools
# (torch depends on setuptools>=77, so requirements.txt brings it): nothing is downloaded.
# Without setuptools (never expected), a .pth file naming the repository root does the same.
$(VENV)/.runtime: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	if $(PY) -c "import setuptools" 2>/dev/null; then \
	  PYTHONWARNINGS="ignore:Editable installation" $(PY) -m pip install -q --no-deps --no-build-isolation -e .; \
	else \
	  $(PY) -c "import pathlib, sysconfig; pathlib.Path(sysconfig.get_paths()['purelib'], 'interp_lab.pth').write_text(str(pathlib.Path.cwd().resolve()) + chr(10))"; \
	fi
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

data: $(VENV)/.runtime
	$(PY) scripts/fetch_data.py

# The browser test drives Debian's chromium; install it when missing and we are allowed to.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing: install Debian's chromium package for the browser test"; fi; }

store: $(VENV)/.runtime data
	$(RUN) $(PY) -m jobs ladder --preset tiny --store-root $(STORE)

demo: store
	INTERP_STORE=$(STORE) $(PY) -m streamlit run dashboard --server.port $(PORT)

test: $(VENV)/.dev data browser
	$(RUN) $(PY) -m pytest -q -m "not slow" --durations=15

test-slow: $(VENV)/.dev data
	$(RUN) $(PY) -m pytest -q -m slow --durations=15

test-all: test test-slow

bench: $(VENV)/.dev data
	$(RUN) $(PY) bench/train_throughput.py
	$(RUN) $(PY) bench/store_io.py
	$(RUN) $(PY) bench/seed_shakespeare.py

clean:
	rm -rf $(VENV) $(STORE) checkpoints data/cache
