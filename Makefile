# Two commands on a new machine: `make sim` (set up, build, run the simulated meter) and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
BOARD  ?= sim
STATE  ?= state/$(BOARD)

.PHONY: setup build sim test unit hil typecheck bench mutate clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

setup: $(VENV)/.installed

build: setup
	$(PY) -m host_tools.build --board $(BOARD)

sim: build
	$(PY) -m host_tools.panel --board $(BOARD) --state-dir $(STATE) --config examples/meter.toml

test: setup
	$(PY) -m host_tools.build --board sim --board sim_bl0942 --board esp32_atm90e26 --board esp32_bl0942
	$(PY) -m pytest -q -n 2 tests
	$(MAKE) --no-print-directory typecheck

typecheck: setup build/typings/.installed
	$(PY) -m mypy --config-file mypy.ini

build/typings/.installed: requirements.txt
	rm -rf build/typings
	$(PY) -m pip install --quiet --no-deps --target build/typings \
		$$(grep -E '^micropython-(esp32|stdlib)-stubs==' requirements.txt)
	touch $@

bench: build
	$(PY) -m bench.run

# Mutation testing of one firmware module (slow; not part of `make test`): make mutate MODULE=tariff
mutate: setup
	$(PY) -m host_tools.mutate $(MODULE)

clean:
	rm -rf build
