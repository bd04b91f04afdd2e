"""pytest plugin: the same HIL tests against the simulated board or a real board.

    pytest tests/hil                              # simulated board (default)
    pytest tests/hil --target=serial --port=/dev/ttyUSB0 [--optical-port=/dev/ttyUSB1]
    pytest tests/hil --interpreter mp32           # simulated board on the frozen 32-bit build (136K)
    pytest -n 2 tests/hil --lg-env labgrid/sim-meter.yaml --lg-coordinator 127.0.0.1:20408
                                                  # a labgrid board farm (docs/board-farm.md)

Fixtures: `meter_factory(config=None, state_dir=None, board="sim")` opens a meter for the chosen
target; `meter` is one unprovisioned meter. A test that needs a bench action the target cannot
do is skipped with the reason (BenchUnsupported); a test marked `lg_feature("sim-bench")` is
skipped by labgrid on a place whose environment lacks that feature (a rack of real meters).

With a labgrid environment each pytest process (each xdist worker) reserves a place of its own
through the coordinator (tags from --farm-tags), unless LG_PLACE names one, and releases it at the
end; the environment file names it as `!template $LG_PLACE`.
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
    group.addoption("--heap", default=None, help="simulated board's heap, e.g. 112K (default: 1M, mp32 136K)")
    group.addoption("--farm-tags", default=os.environ.get("HIL_FARM_TAGS", "meter=sim"),
                    help="with --lg-env: tags of the place each worker reserves (KEY=VALUE,...; default meter=sim)")


def _interpreter(opts):
    kw = {}
    if opts.interpreter:
        kw["interpreter"] = opts.interpreter
    if opts.heap:
        kw["heap"] = opts.heap
    return kw


UNASSIGNED = "-each-worker-reserves-one-"


def _lg_env_file(config):
    return getattr(config.option, "lg_env", None) or os.environ.get("LG_ENV")


def _coordinator(config):
    return (getattr(config.option, "lg_coordinator", None) or os.environ.get("LG_COORDINATOR")
            or "127.0.0.1:20408")


def _reserve(config):
    """This process's own place: reserved and acquired before labgrid reads the environment."""
    controller = getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput")
    if controller:  # runs no test; labgrid still reads the environment file here
        os.environ.setdefault("LG_PLACE", UNASSIGNED)
        return
    if os.environ.get("LG_PLACE", UNASSIGNED) != UNASSIGNED:
        return  # the user chose (and holds) a place
    from host_tools.hil import labgrid_farm

    tags = dict(kv.split("=", 1) for kv in config.getoption("--farm-tags").split(",") if kv)
    coordinator = _coordinator(config)
    place, token = labgrid_farm.reserve_place(coordinator, tags)
    os.environ["LG_PLACE"] = place
    _held.append((coordinator, place, token))
    config.add_cleanup(_release)


_held = []  # the place this process reserved: (coordinator, place, token)


def _release():
    while _held:
        from host_tools.hil import labgrid_farm

        labgrid_farm.release_place(*_held.pop())


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    """Give the place back while an xdist worker still runs (its unconfigure may never come)."""
    from labgrid.pytestplugin.hooks import LABGRID_ENV_KEY

    if _held:
        env = session.config.stash.get(LABGRID_ENV_KEY, None)
        if env is not None:
            env.cleanup()  # labgrid's session to the coordinator first
        _release()


def pytest_configure(config):
    config.addinivalue_line("markers", "lg_feature(name): needs that labgrid feature (sim-bench: the "
                                       "simulator's load, time and keypad controls)")
    if _lg_env_file(config):
        _reserve(config)
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
    """"sim", "serial", or "labgrid" (a place of a board farm, --lg-env)."""
    return "labgrid" if _lg_env_file(request.config) else request.config.getoption("--target")


def _labgrid_meter(request, open_meters, config, state_dir, board, kw):
    from labgrid.pytestplugin.hooks import LABGRID_ENV_KEY

    from host_tools.hil.labgrid_farm import LabgridMeter

    if open_meters:
        pytest.skip("opens a second meter: a farm place has one")
    if state_dir is not None:
        pytest.skip("restarts a meter from its state folder: a farm place's meter is its own")
    if kw:
        pytest.skip("simulator options %s: not on a farm place" % ", ".join(sorted(kw)))
    env = request.config.stash[LABGRID_ENV_KEY]
    return LabgridMeter(env.get_target("main"), config=config, board=board)


@pytest.fixture
def meter_factory(request):
    opts = request.config.option
    open_meters = []
    farm = bool(_lg_env_file(request.config))

    def make(config=None, state_dir=None, board="sim", **kw):
        if farm:
            m = _labgrid_meter(request, open_meters, config, state_dir, board, kw)
            m.__enter__()
            open_meters.append(m)
            return m
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
