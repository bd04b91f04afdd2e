"""Simulated ESP32 + ATM90E26 board: wired like esp32_atm90e26, whose pins.py the build takes."""
import simboard

NAME = "sim"
CHIP = "atm90e26"
HEAP = "1M"  # the 64-bit simulator runs the firmware with -X heapsize=HEAP (its .mpy code loads into the heap; the ESP32 model is the mp32 build, 136K)


def make_board():
    return simboard.make_board(NAME, CHIP)
