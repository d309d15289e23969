# One entry point per job. Every target creates .venv and installs the project when needed,
# so `make up` and `make test` work on a fresh machine with only python3 (>= 3.11) present.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

# make fuzz / make soak: schemathesis and matplotlib live in their own venv, so make test never pays
OBS := .venv-observe
OBS_STAMP := $(OBS)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: up test bench lint clean fuzz soak

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

$(OBS_STAMP): pyproject.toml
	@test -x $(OBS)/bin/python || $(PYTHON) -m venv $(OBS)
	$(OBS)/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test,observe]'
	@rm -f $(OBS)/.installed-*
	@touch $(OBS_STAMP)

up: $(STAMP)
	$(BIN)/nexus up

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

bench: $(STAMP)
	@for b in bench/[!_]*.py; do echo "== $$b"; NEXUS_BENCH_QUICK=1 $(BIN)/python $$b || exit 1; done

# schemathesis against /openapi.json of a real gateway process (FUZZ_ARGS="--max-examples 500")
fuzz: $(OBS_STAMP)
	$(OBS)/bin/python bench/_fuzz.py $(FUZZ_ARGS)

# the long soak against a real `nexus up` (SOAK_ARGS="--minutes 30" is the default; "--hours 8")
soak: $(OBS_STAMP)
	$(OBS)/bin/python bench/soak.py $(SOAK_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) $(OBS) build *.egg-info src/*.egg-info
