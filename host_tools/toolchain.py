"""Where the MicroPython toolchain lives: the project's virtual environment first, then PATH."""
import os
import pathlib
import shutil
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _tool(name):
    here = pathlib.Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    venv = ROOT / ".venv" / "bin" / name
    if venv.exists():
        return str(venv)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError("%s not found: run `make setup`" % name)
    return found


def micropython():
    return os.environ.get("MICROPYTHON") or _tool("micropython")


def mpy_cross():
    return _tool("mpy-cross")


def mpremote():
    return _tool("mpremote")
