# pms-stream developer commands. `make test` is the project's test command (CI runs it via .ci/run).
#
#   make install      create $(VENV) and install the package with its test extras
#   make lint         ruff check + ruff format --check + import contracts (lint-imports, .importlinter)
#   make typecheck    mypy --strict (files and options in pyproject.toml)
#   make docs         regenerate docs/records.md from the layouts (docs-check: fail when stale)
#   make broker-up    start the local Kafka broker (deploy/kafka/broker.sh; see docs/local-broker.md)
#   make broker-down  stop it
#   make demo         the main job: broker, topics, generated input, pms-stream run, statements out
#   make test         lint, typecheck, then pytest against a fresh broker that is always stopped after
#
# Override on the command line, e.g. `make install PY=python3.12` or `make test PYTEST_ARGS='-k kafka'`.

PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
BROKER := deploy/kafka/broker.sh
PYTEST_ARGS ?=

.PHONY: install lint typecheck docs docs-check broker-up broker-down test demo

install:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck:
	$(BIN)/mypy

# docs/records.md is generated from the record layouts; `make test` fails when it is stale.
docs:
	$(BIN)/python -m pms_stream.catair.docs --write docs/records.md

docs-check:
	$(BIN)/python -m pms_stream.catair.docs --check docs/records.md

broker-up:
	$(BROKER) up

broker-down:
	$(BROKER) down

# One shell: the EXIT trap stops the broker whatever happens (test failure, Ctrl-C), and the
# recipe exits with pytest's own status; 5 ("no tests collected") is non-zero, so it fails too.
# With KAFKA_BOOTSTRAP_SERVERS set (say, docker compose's broker) no local broker is started.
test: lint typecheck docs-check
	@if [ -z "$$KAFKA_BOOTSTRAP_SERVERS" ]; then \
		trap '$(BROKER) down' EXIT; trap 'exit 130' INT TERM; \
		$(BROKER) up || exit 1; \
	fi; \
	status=0; $(BIN)/pytest $(PYTEST_ARGS) || status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; \
	exit $$status

# The main job on a fresh machine: installs if needed, then deploy/demo.sh (broker, service,
# generated input, statements shown, everything it started stopped again).
demo:
	@test -x $(BIN)/pms-stream || $(MAKE) install
	BIN=$(BIN) deploy/demo.sh

# Chaos against the real broker (docs/reliability.md): kills, rebalances, broker restarts,
# poison, deleted topics; prints the counts. The same tests run in `make test`.
.PHONY: chaos
chaos:
	@trap '$(BROKER) down' EXIT; $(BROKER) up || exit 1; \
	$(BIN)/pytest -m chaos -p no:cacheprovider $(PYTEST_ARGS); status=$$?; \
	$(BIN)/python -c 'import json; r = json.load(open("bench/out/chaos-results.json")); \
	[print(k.ljust(45), "lost", v["lost"], "duplicated", v["duplicated"], "rejects wrong", v["rejects_wrong"], "(%s s)" % v["seconds"]) for k, v in sorted(r.items())]'; \
	exit $$status

# Fuzzing (fuzz/README.md, docs/reliability.md): 1,000,000 inputs through framing, codec,
# assembler and partition task, coverage-guided by atheris (installed here if missing; no
# dependency: CI runs only tests/core/test_fuzz_sample.py). E.g. FUZZ_ARGS='--inputs 100000'.
.PHONY: fuzz
fuzz:
	@$(BIN)/python -c 'import atheris' 2>/dev/null || $(BIN)/pip install --quiet 'atheris==3.0.0'
	$(BIN)/python -m fuzz.run $(FUZZ_ARGS)

# Security and privacy checks (docs/reliability.md): SASL/SCRAM and SASL_SSL with a CA made per
# run, no secret and no SSN-shaped importer number in logs, metric labels or the metrics topic,
# the HTTP server's address and paths, and the input limits turning excess into rejects.
SECURITY_TESTS := tests/integration/test_security.py tests/integration/test_privacy.py \
	tests/service/test_http.py tests/service/test_logs.py tests/service/test_partition_task.py \
	tests/core/test_assembler.py
.PHONY: security
security:
	@trap '$(BROKER) down' EXIT; $(BROKER) up || exit 1; \
	$(BIN)/pytest -p no:cacheprovider $(SECURITY_TESTS) $(PYTEST_ARGS)

# Soak (bench/README.md, docs/reliability.md): `pms-stream run` under a steady load for minutes
# on a broker of its own (port 39092); RSS, throughput, lag and open state over time to
# bench/out/soak-*.csv and .png, and zero lost / duplicated checked. matplotlib draws the PNG: it
# is installed here if missing (not a dependency). E.g. SOAK_ARGS='--minutes 1 --rate 5000'.
.PHONY: soak
soak:
	@$(BIN)/python -c 'import matplotlib' 2>/dev/null || $(BIN)/pip install --quiet 'matplotlib==3.11.2'
	$(BIN)/python bench/soak.py --start-broker $(SOAK_ARGS)
