# dealreg — the two commands are `make run` and `make test`; everything they need is installed here.
# Chalice takes the Lambda runtime from the interpreter that packages, so pin the one we use (3.11).
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
STAGE  ?= dev
STACK  ?= dealreg-$(STAGE)
LINT_VENV  := .venv-lint
LINT_STAMP := $(LINT_VENV)/.installed-stamp
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: install run test test-fast lint unit fuzz package lint-template smoke after-tests template-of-package checkov deploy status schemas bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Start the whole suite locally (moto stand-in + API on http://127.0.0.1:8000). RESET=1 starts empty.
run: $(STAMP)
	$(BIN)/dealreg local $(if $(RESET),--reset)

## pytest-xdist workers for `make test` / `make test-fast`: one per core by default; WORKERS=0 runs in-process.
WORKERS ?= auto
XDIST   := $(if $(filter 0,$(WORKERS)),-p no:xdist,-n $(WORKERS) --dist loadgroup)

## Run the gates and every test (xdist: one moto stand-in and stage prefix per worker), then build the
## deployment package, lint its template and run it (after-tests).
test: $(STAMP) lint
	$(BIN)/python -m pytest -q $(XDIST)
	$(MAKE) --no-print-directory -j2 $(if $(filter output-sync,$(.FEATURES)),--output-sync=target) after-tests

## After the tests, two steps at a time (each is single-threaded): the package beside the lint environment (which
## a fresh clone installs), then the template's lint beside the smoke run; each step's output is printed whole
## when it ends (GNU make 4+; an older make, e.g. macOS' 3.81, interleaves it). Not beside the tests: `make package` rewrites functions/vendor/, which tests read.
after-tests: template-of-package smoke
template-of-package: package $(LINT_STAMP)
	$(LINT_TEMPLATE)

## The inner loop: everything but the tests marked slow (browser, fuzz, subprocess stacks, model training).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q $(XDIST) -m "not slow"

## Pure tests only (no stand-in, no HTTP): seconds.
unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit $(XDIST)

## ruff (rules in pyproject.toml), mypy (schemas/, connectors/) and the import-linter layering contracts
## ([tool.importlinter] in pyproject.toml) — 0 findings.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	PYTHONPATH=functions:. $(BIN)/lint-imports --no-cache

## The OpenAPI contract against the app for every role (schemathesis, derandomised, bounded; part of `make test`):
## valid requests answered as documented, and schema-breaking ones (negative mode) refused with the error shape.
## DEALREG_FUZZ_EXAMPLES=20 / DEALREG_FUZZ_NEGATIVE_EXAMPLES=10 make fuzz generate more examples per operation and role.
fuzz: $(STAMP)
	$(BIN)/python -m pytest tests/fuzz -q -s

## Build build/sam.json + the Lambda zip with `chalice package --merge-template`.
package: $(STAMP)
	$(BIN)/python -m infra.package --stage $(STAGE) --out build

## Every function of the built zip once, as on Lambda (a bare interpreter with only the zip's packages, moto on
## 127.0.0.1): fails unless each answers its first event as expected and none is left uncalled
## (bench/cold_start.py --check). Builds the package first (in `make test` it is built once).
smoke: $(STAMP) package
	$(BIN)/python -m bench.cold_start build/deployment.zip --runs 1 --check

$(LINT_STAMP): infra/lint-requirements.txt
	$(PYTHON) -m venv $(LINT_VENV)
	$(LINT_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r infra/lint-requirements.txt
	touch $(LINT_STAMP)

## The SAM transform of build/sam.json (-> build/template.json), cfn-lint on both, checkov if installed there.
LINT_TEMPLATE = $(LINT_VENV)/bin/python -m infra.lint_template build/sam.json $(if $(wildcard $(LINT_VENV)/bin/checkov),,--no-checkov)
lint-template: $(LINT_STAMP)
	$(LINT_TEMPLATE)

## Add checkov (slow to install) to the lint environment; lint-template then runs it with the accepted findings.
checkov: $(LINT_STAMP)
	$(LINT_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r infra/checkov-requirements.txt

## Deploy a stage: `make deploy STAGE=prod BUCKET=my-artifacts [STACK=dealreg-prod]` (AWS CLI v2 and
## credentials needed). Uploads the code to BUCKET and creates/updates the stack; stage settings come from
## infra/stages/$(STAGE).json (parameter defaults), override one with PARAMS="AlarmEmail=ops@example.com".
deploy: package
	@test -n "$(BUCKET)" || { echo "BUCKET=<S3 bucket for the code, in the stack's region> is required"; exit 2; }
	aws cloudformation package --template-file build/sam.json --s3-bucket $(BUCKET) \
	    --s3-prefix $(STACK) --output-template-file build/packaged.json --use-json
	aws cloudformation deploy --template-file build/packaged.json --stack-name $(STACK) \
	    --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND --no-fail-on-empty-changeset \
	    $(if $(PARAMS),--parameter-overrides $(PARAMS))

## One screen for an operator: queues, DLQs, parked deliveries, schedules, tender sources (LOCAL=1: make run's).
status: $(STAMP)
	$(BIN)/dealreg status $(if $(LOCAL),--local)

## Regenerate schemas/json/*.json and schemas/openapi.json after changing a model or a route.
schemas: $(STAMP)
	$(BIN)/dealreg schemas

bench: $(STAMP)
	$(BIN)/python -m bench.intake_cold_start

clean:
	rm -rf build functions/vendor .pytest_cache $(LINT_VENV)
