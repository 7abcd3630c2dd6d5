# Teams AI gateway: `make run` starts the bot, `make chat` talks to it, `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# PORT is empty unless given (`make run PORT=4000`): the bot and the emulator read it from the environment or .env.
ARGS   ?=

SAM    := .venv-sam/bin
LAMBDA_FUNCTIONS := IngressFunction ChatWorkerFunction DeadLetterFunction MonitorTickFunction

.PHONY: run chat playground teams-package test lint clean bench bench-retrieval deploy-check emr-artifacts \
	build-IngressFunction build-ChatWorkerFunction build-DeadLetterFunction build-MonitorTickFunction

# uv (Astral's installer, a wheel from PyPI) installs the requirements several times faster than pip
# (bench figures in README.md); wheels only, so nothing is compiled. Where uv has no wheel, pip does the work.
UV_VERSION := 0.13.10
WHEELS := --only-binary :all: --no-binary causaldata --no-binary pyspark# source archives only (pure Python: nothing compiled): causaldata (a test data set), pyspark
# $(call install,PYTHON,ARGS): install ARGS into the environment of PYTHON, with its uv when it has one. Bytecode is
# compiled at install, as pip does: otherwise the first analysis processes compile pandas and scikit-learn on import.
install = if [ -x $(dir $(1))uv ]; then $(dir $(1))uv pip install --quiet --compile-bytecode --python $(1) $(WHEELS) $(2); \
	else $(1) -m pip install --quiet --disable-pip-version-check $(WHEELS) $(2); fi

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION) || echo "(no uv: pip installs)"

$(VENV)/.base: requirements.txt | $(BIN)/python  ## requirements.txt only: enough for the Teams app package
	$(call install,$(BIN)/python,-r requirements.txt)
	touch $@

$(VENV)/.runtime: requirements.txt requirements-analytics.txt | $(BIN)/python
	$(call install,$(BIN)/python,-r requirements-analytics.txt)
	touch $@

# Java for the Spark tests installs beside the packages (CI: an apt download while uv downloads); best effort here,
# as `make lint` needs no Java: `make test` runs infra/ensure_java.sh again and stops there if Java is missing.
$(VENV)/.dev: requirements.txt requirements-analytics.txt requirements-spark.txt requirements-dev.txt | $(BIN)/python
	mkdir -p build
	infra/ensure_java.sh >build/java.log 2>&1 & java=$$!; \
	$(call install,$(BIN)/python,-r requirements-dev.txt); installed=$$?; \
	wait $$java; cat build/java.log; [ $$installed -eq 0 ]
	touch $(VENV)/.runtime $@

run: $(VENV)/.runtime  ## start the bot on 127.0.0.1:3978 (PORT=…; local backend, SQLite state, analytics)
	$(if $(PORT),PORT=$(PORT)) $(BIN)/python -m bot serve --dev

chat: $(VENV)/.runtime  ## the terminal Teams emulator (ARGS=--group or --channel)
	$(BIN)/python -m bot chat $(if $(PORT),--endpoint http://127.0.0.1:$(PORT)/api/messages) $(ARGS)

playground:  ## Microsoft 365 Agents Playground against `make run` (optional; needs Node and npm)
	TEAMSAPPTESTER_BROWSER=none npx --yes @microsoft/m365agentsplayground \
		-e http://127.0.0.1:$(or $(PORT),3978)/api/messages -c msteams --dt -p 56150

teams-package: $(VENV)/.base  ## build/appPackage.zip for Teams (needs MICROSOFT_APP_ID; ARGS=--developer NAME --website URL --version X.Y.Z)
	$(BIN)/python -m infra.teams_package $(ARGS)

# The deploy checks (downloads, copies, cfn-lint) run beside the test suite (mostly one core busy) to keep CI
# under 15 minutes; their output follows the tests', and either failing fails `make test`. (SUBMAKE, not
# $(MAKE): make runs a line naming $(MAKE) even under `make -n`, and this line runs the tests too.)
SUBMAKE = $(MAKE)
test: $(VENV)/.dev $(SAM)/.installed  ## lint, the deploy checks and the whole test suite (what CI runs)
	$(BIN)/ruff check .
	mkdir -p build
	$(SUBMAKE) --no-print-directory deploy-check >build/deploy-check.log 2>&1 & checks=$$!; \
	infra/ensure_java.sh && $(BIN)/python -m pytest; tests=$$?; \
	wait $$checks; deployed=$$?; \
	cat build/deploy-check.log; \
	if [ $$deployed -ne 0 ]; then echo "make deploy-check failed (its output is above)"; fi; \
	[ $$tests -eq 0 ] && [ $$deployed -eq 0 ]

bench: $(VENV)/.runtime  ## load: 2,000 activities, 200 conversations, concurrency 50, against the echo sample too
	$(BIN)/python -m bench.load

$(SAM)/.installed: requirements-deploy.txt
	$(PYTHON) -m venv .venv-sam
	$(SAM)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION) || echo "(no uv: pip installs)"
	$(call install,$(SAM)/python,-r requirements-deploy.txt)
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
build-IngressFunction build-MonitorTickFunction:  # the tick: the ingress's small zip (no analytics)
	PYTHON=$(BUILD_PYTHON) infra/build_lambda.sh ingress "$(ARTIFACTS_DIR)"
build-ChatWorkerFunction build-DeadLetterFunction:
	PYTHON=$(BUILD_PYTHON) infra/build_lambda.sh worker "$(ARTIFACTS_DIR)"

RETRIEVAL_CORPORA := python3-doc postgresql-doc-15 sqlite3-doc git-doc
bench-retrieval: $(VENV)/.runtime  ## local backend retrieval on four Debian manuals and this repo's docs beside naive BM25 (installs the manuals if missing)
	@missing=$$(for p in $(RETRIEVAL_CORPORA); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	[ -z "$$missing" ] || { apt-get update -qq && apt-get install -y -qq $$missing; } \
		|| echo "could not install $$missing (needs root and Debian's apt): those corpora will be skipped"
	$(BIN)/python -m bench.retrieval_eval $(ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

emr-artifacts: $(VENV)/.runtime  ## upload the EMR Serverless drift job to EMR_ARTIFACTS_BUCKET=… (docs/deploy.md)
	@test -n "$(EMR_ARTIFACTS_BUCKET)" || { echo "usage: make emr-artifacts EMR_ARTIFACTS_BUCKET=<EmrArtifactsBucket>"; exit 2; }
	$(BIN)/python -m infra.emr_artifacts $(EMR_ARTIFACTS_BUCKET)

clean:
	rm -rf $(VENV) .venv-sam build .aws-sam state .pytest_cache .ruff_cache
