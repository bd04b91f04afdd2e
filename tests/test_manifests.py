"""Each board's image (boards/<board>/manifest.py) holds exactly what the board runs.

The modules a board runs are found from its main.py by following imports through firmware/ and the
board's folder (host_tools/ and tests/ are never on that path). A metering-IC driver counts only for
the board's own chip: hal.py imports the driver the board names. The project reads its manifests
with its own small reader (host_tools.build.Manifest); MicroPython's tools/manifestfile.py, which the
frozen builds use, must read them the same.
"""
import ast
import os
import pathlib
import sys

import pytest

from host_tools import build

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
BOARDS = ROOT / "boards"
ESP32 = {"esp32_atm90e26": "atm90e26", "esp32_bl0942": "bl0942"}
SIMULATES = {"sim": "esp32_atm90e26", "sim_bl0942": "esp32_bl0942"}
METERING_CHIPS = set(ESP32.values())


def _imported(path):
    """Module names a source file imports (anywhere in it), `from a import b` as a and a.b."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(node.module + "." + a.name for a in node.names)
    return names


def _runs(board):
    """Image paths ("meter.py", "drivers/relay.py") of the modules an ESP32 board runs."""
    chip = ESP32[board]
    roots = [(BOARDS / board, ("board", "pins", "main")), (FIRMWARE, None)]
    seen, todo = set(), ["main"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        parts = name.split(".")
        if len(parts) > 1:
            todo.append(".".join(parts[:-1]))  # importing a.b runs package a's __init__ first
        if parts[0] == "drivers" and len(parts) == 2 and parts[1] in METERING_CHIPS and parts[1] != chip:
            continue  # hal imports the driver of the chip the board names
        for folder, only in roots:
            if only is not None and name not in only:
                continue
            path = folder.joinpath(*parts).with_suffix(".py")
            if not path.exists():
                path = folder.joinpath(*parts) / "__init__.py"
            if path.exists():
                seen.add(name)
                todo.extend(_imported(path))
                break
    out = set()
    for name in seen:
        rel = pathlib.Path(*name.split("."))
        out.add(rel.with_suffix(".py").as_posix() if (FIRMWARE / rel.with_suffix(".py")).exists()
                or (BOARDS / board / rel.with_suffix(".py")).exists() else (rel / "__init__.py").as_posix())
    return out


def _targets(manifest):
    return [t for _s, t in manifest.files]


@pytest.mark.parametrize("board", sorted(ESP32))
def test_an_esp32_image_holds_exactly_what_its_board_runs(board):
    frozen = _targets(build.manifest_files(BOARDS / board / "manifest.py", port=False))
    assert len(frozen) == len(set(frozen)), "a module frozen twice"
    assert set(frozen) == _runs(board)
    other = [c for c in METERING_CHIPS if c != ESP32[board]]
    assert ["drivers/%s.py" % c for c in other if "drivers/%s.py" % c in frozen] == []
    assert "drivers/%s.py" % ESP32[board] in frozen and "main.py" in frozen


@pytest.mark.parametrize("board", sorted(SIMULATES))
def test_a_simulated_board_freezes_the_firmware_of_the_board_it_simulates(board):
    real = build.manifest_files(BOARDS / SIMULATES[board] / "manifest.py", port=False)
    image = build.manifest_files(BOARDS / board / "manifest.py", hardware=False)
    whole = build.manifest_files(BOARDS / board / "manifest.py")
    # the firmware files are the ESP32 board's own, only board.py is the simulated board's
    real_files = {t: s for s, t in real.files if t != "board.py"}
    image_files = {t: s for s, t in image.files}
    assert image_files.pop("board.py") == str(BOARDS / board / "board.py")
    assert image_files == real_files
    hardware = set(_targets(whole)) - set(image_files) - {"board.py"}
    assert {"simboot.py", "machine.py", "world.py", "simhost.py", "hardware.py"} <= hardware
    assert not any(t.startswith("drivers/") for t in hardware)


def test_the_mpy_image_holds_the_manifests_modules():
    for board in sorted(ESP32) + sorted(SIMULATES):
        lib = ROOT / "build" / board / "image" / "lib"
        if not lib.is_dir():
            pytest.skip("build/%s not built (make test builds every board first)" % board)
        built = {p.relative_to(lib).with_suffix(".py").as_posix() for p in lib.rglob("*.mpy")}
        frozen = set(_targets(build.manifest_files(BOARDS / board / "manifest.py", port=False, hardware=False)))
        assert built == frozen - {"main.py"}, board
        assert (ROOT / "build" / board / "image" / "main.py").exists()


@pytest.fixture(scope="module")
def manifestfile():
    try:
        src = build.micropython_src()
    except SystemExit as e:
        pytest.skip("no MicroPython source to compare with: %s" % e)
    sys.path.insert(0, str(src / "tools"))
    try:
        import manifestfile as mf
    finally:
        sys.path.pop(0)
    return mf, src


def _micropython_reads(mf, path, path_vars, **options):
    m = mf.ManifestFile(mf.MODE_FREEZE, dict({"MPY_DIR": None, "MPY_LIB_DIR": None, "PORT_DIR": None,
                                               "BOARD_DIR": None}, **path_vars))
    m.include(str(path), **options)
    return [(os.path.abspath(f.full_path), f.target_path.replace(os.sep, "/")) for f in m.files()]


@pytest.mark.parametrize("board", sorted(ESP32) + sorted(SIMULATES))
@pytest.mark.parametrize("options", [{"port": False}, {"port": False, "hardware": False}])
def test_micropython_reads_the_manifests_as_the_build_does(manifestfile, board, options):
    mf, src = manifestfile
    path = BOARDS / board / "manifest.py"
    ours = build.manifest_files(path, **options).files
    theirs = _micropython_reads(mf, path, {"MPY_DIR": str(src)}, **options)
    assert sorted(ours) == sorted(theirs)


@pytest.mark.parametrize("board", sorted(ESP32))
def test_the_esp32_image_adds_the_ports_own_modules(manifestfile, board, tmp_path):
    """With the ESP32 port's folder (here a stand-in holding its boot modules) the image also
    freezes the port's own modules, as the ESP32 firmware build does."""
    mf, src = manifestfile
    port = tmp_path / "esp32"
    (port / "modules").mkdir(parents=True)
    for name in ("_boot.py", "flashbdev.py", "inisetup.py"):
        (port / "modules" / name).write_text("# stand-in\n")
    theirs = _micropython_reads(mf, BOARDS / board / "manifest.py", {"MPY_DIR": str(src), "PORT_DIR": str(port)})
    ours = build.Manifest({"PORT_DIR": str(port)})
    ours.include(str(BOARDS / board / "manifest.py"))
    assert sorted(ours.files) == sorted(theirs)
    assert {"_boot.py", "flashbdev.py", "inisetup.py"} <= {t for _s, t in theirs}
