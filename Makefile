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

# the tests in TEST_WORKERS processes (pytest-xdist; a file's tests stay in one process), one
# torch thread each: two threads per process on a shared 2-core machine wait for each other
TEST_WORKERS ?= 2

test: lint
	OMP_NUM_THREADS=1 $(PY) -m pytest -rs -n $(TEST_WORKERS) --dist loadfile tests

demo: install
	$(PY) tools/demo.py

clean:
	rm -rf work_dirs/demo
