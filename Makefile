# Teams AI gateway: `make run` starts the bot, `make chat` talks to it, `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 3978
ARGS   ?=

SAM    := .venv-sam/bin
LAMBDA_FUNCTIONS := IngressFunction ChatWorkerFunction DeadLetterFunction

.PHONY: run chat playground teams-package test lint clean bench bench-retrieval deploy-check \
	build-IngressFunction build-ChatWorkerFunction build-DeadLetterFunction

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt requirements-analytics.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-analytics.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-analytics.txt requirements-spark.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.runtime $@

run: $(VENV)/.runtime  ## start the bot on 127.0.0.1:$(PORT) (local backend, SQLite state, analytics)
	PORT=$(PORT) DOWNLOAD_ALLOWED_HOSTS="$${DOWNLOAD_ALLOWED_HOSTS:-*.sharepoint.com,http://127.0.0.1}" \
		$(BIN)/python -m bot serve

chat: $(VENV)/.runtime  ## the terminal Teams emulator (ARGS=--group or --channel)
	$(BIN)/python -m bot chat --endpoint http://127.0.0.1:$(PORT)/api/messages $(ARGS)

playground:  ## Microsoft 365 Agents Playground against `make run` (optional; needs Node and npm)
	TEAMSAPPTESTER_BROWSER=none npx --yes @microsoft/m365agentsplayground \
		-e http://127.0.0.1:$(PORT)/api/messages -c msteams --dt -p 56150

teams-package: $(VENV)/.dev  ## build/appPackage.zip for Teams (needs MICROSOFT_APP_ID; ARGS=--developer NAME ...)
	$(BIN)/python -m infra.teams_package $(ARGS)

test: $(VENV)/.dev deploy-check  ## lint, the deploy checks and the whole test suite (what CI runs)
	infra/ensure_java.sh
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

bench: $(VENV)/.runtime  ## load: 2,000 activities, 200 conversations, concurrency 50, against the echo sample too
	$(BIN)/python -m bench.load

$(SAM)/.installed: requirements-deploy.txt
	$(PYTHON) -m venv .venv-sam
	$(SAM)/python -m pip install --quiet --upgrade pip
	$(SAM)/python -m pip install --quiet -r requirements-deploy.txt
	touch $@

# cfn-lint and `sam validate --lint` on template.yaml; `sam build` of the zip functions (the analytics image
# needs Docker: its requirements are checked for Lambda's Python 3.12 instead); package sizes and contents.
deploy-check: $(SAM)/.installed $(VENV)/.dev
	$(SAM)/cfn-lint template.yaml
	SAM_CLI_TELEMETRY=0 $(SAM)/sam validate --lint
	mkdir -p build
	for function in $(LAMBDA_FUNCTIONS); do \
		SAM_CLI_TELEMETRY=0 $(SAM)/sam build $$function --build-in-source --build-dir build/sam/$$function \
			>build/sam-$$function.log 2>&1 || { cat build/sam-$$function.log; exit 1; }; \
	done
	$(BIN)/python bench/lambda_package.py --check
	PYTHON=$(CURDIR)/$(BIN)/python infra/check_analytics_image.sh

# `sam build` runs these (BuildMethod: makefile) with ARTIFACTS_DIR set.
# The project's venv when there is one (its pip is quiet about the system's packages), else $(PYTHON).
BUILD_PYTHON = $(if $(wildcard $(BIN)/python),$(CURDIR)/$(BIN)/python,$(PYTHON))
build-IngressFunction:
	PYTHON=$(BUILD_PYTHON) infra/build_lambda.sh ingress "$(ARTIFACTS_DIR)"
build-ChatWorkerFunction build-DeadLetterFunction:
	PYTHON=$(BUILD_PYTHON) infra/build_lambda.sh worker "$(ARTIFACTS_DIR)"

bench-retrieval: $(VENV)/.runtime  ## local backend retrieval quality on the Python docs (installs python3-doc if missing)
	@ls -d /usr/share/doc/python3*-doc/html >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq python3-doc; } \
		|| echo "could not install python3-doc (needs root and Debian's apt): the benchmark will skip"
	$(BIN)/python -m bench.retrieval_eval $(ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .venv-sam build .aws-sam state .pytest_cache .ruff_cache
