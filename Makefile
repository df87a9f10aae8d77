# Two commands matter on a fresh machine: `make demo` and `make test` (both install first).
PY := .venv/bin/python
STAMP := .venv/.installed

.PHONY: install test lint format demo clean

install: $(STAMP)

$(STAMP): tools/install.sh pyproject.toml $(wildcard requirements/*.txt)
	bash tools/install.sh
	touch $@

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: install
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

test: lint
	$(PY) -m pytest -rs tests

demo: install
	$(PY) tools/demo.py

clean:
	rm -rf work_dirs/demo
