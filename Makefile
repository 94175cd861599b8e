# flaskpypi: `make run` starts the server on the embedded default; `make test` runs the whole suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
HOST   ?= 127.0.0.1
PORT   ?= 6543
PLUGINS := $(wildcard plugins/*/pyproject.toml)
PLUGIN_DIRS := $(foreach p,$(PLUGINS),-e $(dir $(p)))

.PHONY: run setup setup-test test-deps test lint format bench clean

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv

setup: $(UV)  ## install flaskpypi into .venv
	$(UV) pip install --python $(BIN)/python --quiet -e .

run: setup  ## start the server on http://127.0.0.1:6543/ (SQLite + packages under instance/)
	$(BIN)/flaskpypi run --host $(HOST) --port $(PORT)

setup-test: $(UV)  ## install flaskpypi, its plugins and every test tool into .venv
	$(UV) pip install --python $(BIN)/python --quiet -e '.[test]' $(PLUGIN_DIRS)

test-deps: setup-test  ## emulators and browsers the tests drive (npm, apt)
	bash scripts/test-deps.sh

test: test-deps lint  ## the whole suite, as CI runs it
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup-test
	$(BIN)/ruff check flaskpypi plugins tests bench
	$(BIN)/ruff format --check flaskpypi plugins tests bench
	$(BIN)/lint-imports

format: setup-test
	$(BIN)/ruff format flaskpypi plugins tests bench
	$(BIN)/ruff check --fix flaskpypi plugins tests bench

bench: setup-test  ## side by side with pypiserver, devpi-server and pypicloud; paired starts; /simple/ at 50,000 projects; installs' server share; cached install; uploads; views
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq wrk >/dev/null; } \
	  || echo "note: no wrk, so bench/run.py uses its Python load generator"
	$(BIN)/python bench/run.py $(BENCH_ARGS)
	$(BIN)/python bench/start.py
	$(BIN)/python bench/root_scale.py
	$(BIN)/python bench/install_share.py
	$(BIN)/python bench/cached_install.py
	$(BIN)/python bench/upload_corpus.py
	$(BIN)/python bench/views.py

clean:
	rm -rf $(VENV) .cache node_modules build *.egg-info
