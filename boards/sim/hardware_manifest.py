"""The simulated PCB as the 32-bit unix build (mp32) freezes it beside the firmware (manifest).

The boot ROM (simboot.py, started with `micropython -m simboot`), the `machine` shim, the device
models, the virtual world and the bench's server: everything in boards/sim/ but the board's own
board.py and main.py, which the board's manifest freezes as the firmware's.
"""
import os

_NOT_HARDWARE = ("board.py", "main.py", "manifest.py", "hardware_manifest.py")
_modules = []
for _dir, _subdirs, _files in os.walk("."):
    _subdirs[:] = sorted(d for d in _subdirs if d != "__pycache__")
    for _name in sorted(_files):
        _rel = os.path.relpath(os.path.join(_dir, _name), ".").replace(os.sep, "/")
        if _name.endswith(".py") and _rel not in _NOT_HARDWARE:
            _modules.append(_rel)
freeze(".", _modules)
