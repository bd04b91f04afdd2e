# Two commands on a new machine: `make sim` (set up, build, run the simulated meter) and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
BOARD  ?= sim
STATE  ?= state/$(BOARD)
# MicroPython v1.28 source for the frozen 32-bit build (mp32): a clone or its tarball; default
# ../shared/micropython/micropython-1.28.0-src.tar.xz beside the repository (host_tools/build.py)
MICROPY_SRC ?=
export MICROPY_SRC
SIM_BOARDS := sim sim_bl0942
ALL_BOARDS := $(SIM_BOARDS) esp32_atm90e26 esp32_bl0942

.PHONY: setup build mp32 sim test unit hil typecheck bench mutate clean farm

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .   # meterctl and meter-panel on the venv's PATH
	touch $@

setup: $(VENV)/.installed

build: setup
	$(PY) -m host_tools.build --board $(BOARD)

sim: build
	$(PY) -m host_tools.panel --board $(BOARD) --state-dir $(STATE) --config examples/meter.toml

# the simulated boards frozen into the 32-bit unix port, as the ESP32 image freezes the firmware
# (build/mp32/<board>/micropython; skipped when nothing it freezes changed)
mp32: setup
	$(PY) -m host_tools.build --mp32-only $(addprefix --board ,$(SIM_BOARDS))

# every test on the 64-bit port, then the whole HIL suite again on the frozen 32-bit build at the
# ESP32's heap (136K), which runs the full 1000-cycle power-cut campaign (300 on the 64-bit port)
test: setup
	$(PY) -m host_tools.build $(addprefix --board ,$(ALL_BOARDS))
	$(PY) -m host_tools.build --mp32-only $(addprefix --board ,$(SIM_BOARDS))
	HIL_POWERLOSS_CYCLES=300 $(PY) -m pytest -q -n 2 --dist load tests
	$(PY) -m pytest -q -n 2 --dist load --interpreter mp32 tests/hil
	$(PY) -m host_tools.hil.farm_ci
	$(MAKE) --no-print-directory typecheck

# a labgrid board farm on this machine (loopback): a HIL subset on two simulated places at once
farm: setup
	$(PY) -m host_tools.build --board sim
	$(PY) -m host_tools.hil.farm_ci

typecheck: setup build/typings/.installed
	$(PY) -m mypy --config-file mypy.ini

build/typings/.installed: requirements.txt
	rm -rf build/typings
	$(PY) -m pip install --quiet --no-deps --target build/typings \
		$$(grep -E '^micropython-(esp32|stdlib)-stubs==' requirements.txt)
	touch $@

bench: build mp32
	$(PY) -m bench.run

# Mutation testing of one firmware module (slow; not part of `make test`): make mutate MODULE=tariff
mutate: setup
	$(PY) -m host_tools.mutate $(MODULE)

clean:
	rm -rf build
