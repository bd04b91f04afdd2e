"""pytest plugin: the same HIL tests against the simulated board or a real board.

    pytest tests/hil                              # simulated board (default)
    pytest tests/hil --target=serial --port=/dev/ttyUSB0 [--optical-port=/dev/ttyUSB1]
    pytest tests/hil --interpreter mp32 --heap 96K    # simulated board on the frozen 32-bit build

Fixtures: `meter_factory(config=None, state_dir=None, board="sim")` opens a meter for the chosen
target; `meter` is one unprovisioned meter. A test that needs a bench action the target cannot
do is skipped with the reason (BenchUnsupported).
"""
import os

import pytest

from host_tools.hil.bench import BenchUnsupported
from host_tools.hil.serial_meter import SerialMeter
from host_tools.hil.sim import INTERPRETERS, SimulatedMeter

TARGETS = {
    "sim": lambda opts, **kw: SimulatedMeter(**dict(_interpreter(opts), **kw)),
    "serial": lambda opts, config=None, **kw: SerialMeter(opts.port, config=config,
                                                          optical_port=opts.optical_port),
}


def pytest_addoption(parser):
    group = parser.getgroup("hil", "hardware in the loop")
    group.addoption("--target", default="sim", choices=sorted(TARGETS), help="meter under test")
    group.addoption("--port", default=None, help="serial port of a real board (--target=serial)")
    group.addoption("--interpreter", default=None, choices=INTERPRETERS,
                    help="simulated board's interpreter: micropython (pinned 64-bit unix port, default) "
                         "or mp32 (frozen 32-bit build, an ESP32's heap)")
    group.addoption("--heap", default=None, help="simulated board's heap, e.g. 96K (default: 512K, mp32 96K)")


def _interpreter(opts):
    kw = {}
    if opts.interpreter:
        kw["interpreter"] = opts.interpreter
    if opts.heap:
        kw["heap"] = opts.heap
    return kw


def pytest_configure(config):
    if config.getoption("--target") == "serial" and not config.getoption("--port"):
        raise pytest.UsageError("--target=serial needs --port=/dev/ttyUSB0 (or the board's port)")
    # meters a test opens itself (SimulatedMeter(...), not the fixtures) follow the options too
    if config.getoption("--interpreter"):
        os.environ["HIL_INTERPRETER"] = config.getoption("--interpreter")
    if config.getoption("--heap"):
        os.environ["HIL_HEAP"] = config.getoption("--heap")


@pytest.fixture
def hil_interpreter(request):
    """The simulated board's interpreter the run uses ("micropython" or "mp32")."""
    return request.config.getoption("--interpreter") or os.environ.get("HIL_INTERPRETER") or "micropython"


@pytest.fixture
def hil_target(request):
    return request.config.getoption("--target")


@pytest.fixture
def meter_factory(request):
    opts = request.config.option
    open_meters = []

    def make(config=None, state_dir=None, board="sim", **kw):
        if opts.target != "sim" and board not in ("sim", opts.target):
            pytest.skip("board %s exists only on the simulator" % board)
        m = TARGETS[opts.target](opts, config=config, state_dir=state_dir, board=board, **kw)
        m.__enter__()
        open_meters.append(m)
        return m

    yield make
    for m in reversed(open_meters):
        m.__exit__(None, None, None)


@pytest.fixture
def meter(meter_factory):
    return meter_factory()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    outcome = yield
    exc = outcome.excinfo
    if exc is not None and issubclass(exc[0], BenchUnsupported):
        outcome.force_exception(pytest.skip.Exception(str(exc[1]), _use_item_location=True))
