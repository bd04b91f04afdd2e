"""The meter firmware (firmware/) as every board's image freezes it (MicroPython manifest).

A board's manifest.py includes this with its metering chip:

    include("../firmware_manifest.py", chip="atm90e26")

It freezes every module under firmware/ except the other metering ICs' drivers, so an image
carries its own chip driver and no other board's. A module added to firmware/ joins every image;
tests/test_manifests.py checks that each image holds exactly what its board imports.
"""
import os

METERING_CHIPS = ("atm90e26", "bl0942")  # firmware/drivers/<chip>.py, one per board

options.defaults(chip=None)
if options.chip not in METERING_CHIPS:
    raise ValueError("firmware_manifest.py: chip must be one of %s, not %r" % (METERING_CHIPS, options.chip))

FIRMWARE = "../firmware"  # relative to this file: the manifest tool runs it from boards/
_others = ["drivers/%s.py" % c for c in METERING_CHIPS if c != options.chip]
_modules = []
for _dir, _subdirs, _files in os.walk(FIRMWARE):
    _subdirs[:] = sorted(d for d in _subdirs if d != "__pycache__")
    for _name in sorted(_files):
        _rel = os.path.relpath(os.path.join(_dir, _name), FIRMWARE).replace(os.sep, "/")
        if _name.endswith(".py") and _rel not in _others:
            _modules.append(_rel)
freeze(FIRMWARE, _modules)
