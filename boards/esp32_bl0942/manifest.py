"""What the esp32_bl0942 meter runs, frozen into MicroPython's ESP32 firmware (docs/esp32-image.md).

    make -C micropython/ports/esp32 BOARD=ESP32_GENERIC FROZEN_MANIFEST=$PWD/boards/esp32_bl0942/manifest.py

The ESP32 port's own modules (_boot.py mounts the flash), the firmware with this board's metering
driver only (../firmware_manifest.py), this board's wiring and its main.py, which the ESP32 runs at
boot in preference to a main.py on the flash. The simulated board freezes the firmware through this
same file (port=False: the unix port has no ESP32 modules; board=False: it has its own board.py).
"""
options.defaults(port=True, board=True)
if options.port:
    freeze("$(PORT_DIR)/modules")
include("../firmware_manifest.py", chip="bl0942")
module("pins.py")
module("main.py")
if options.board:
    module("board.py")
