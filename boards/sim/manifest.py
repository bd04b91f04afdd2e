"""The simulated ATM90E26 board, frozen for the 32-bit unix build (mp32) as an ESP32 image is.

The firmware goes through the ESP32 board's own manifest (the board it simulates), then the
simulated board's board.py and, unless hardware=False, the simulated PCB (hardware_manifest.py).
`host_tools.build` reads it with hardware=False for the .mpy image a deploy copies to the flash.
"""
options.defaults(hardware=True)
include("../esp32_atm90e26/manifest.py", port=False, board=False)
module("board.py")
if options.hardware:
    include("hardware_manifest.py")
