# Teams AI gateway: `make run` starts the bot, `make chat` talks to it, `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 3978
ARGS   ?=

.PHONY: run chat playground test lint clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt requirements-analytics.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-analytics.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-analytics.txt requirements-dev.txt | $(BIN)/python
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

test: $(VENV)/.dev  ## lint and run the whole test suite
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

bench: $(VENV)/.runtime  ## load: 2,000 activities, 200 conversations, concurrency 50, against the echo sample too
	$(BIN)/python -m bench.load

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) state .pytest_cache .ruff_cache
