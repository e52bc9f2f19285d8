# dealreg — the two commands are `make run` and `make test`; everything they need is installed here.
# Chalice takes the Lambda runtime from the interpreter that packages, so pin the one we use (3.11).
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
STAGE  ?= dev
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: install run test unit fuzz package lint-template schemas bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Start the whole suite locally (moto stand-in + API on http://127.0.0.1:8000). RESET=1 starts empty.
run: $(STAMP)
	$(BIN)/dealreg local $(if $(RESET),--reset)

## Run every test, then build the deployment package and lint its template.
test: $(STAMP)
	$(BIN)/python -m pytest -q
	$(MAKE) --no-print-directory package lint-template

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

## The OpenAPI contract against the app for every role (schemathesis, derandomised, bounded; part of `make test`).
## DEALREG_FUZZ_EXAMPLES=20 make fuzz generates more examples per operation and role.
fuzz: $(STAMP)
	$(BIN)/python -m pytest tests/fuzz -q -s

## Build build/sam.json + the Lambda zip with `chalice package --merge-template`.
package: $(STAMP)
	$(BIN)/python -m infra.package --stage $(STAGE) --out build

lint-template: $(STAMP)
	$(BIN)/cfn-lint build/sam.json

## Regenerate schemas/json/*.json and schemas/openapi.json after changing a model or a route.
schemas: $(STAMP)
	$(BIN)/dealreg schemas

bench: $(STAMP)
	$(BIN)/python -m bench.intake_cold_start

clean:
	rm -rf build functions/vendor .pytest_cache
