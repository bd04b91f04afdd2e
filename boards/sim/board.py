"""Simulated ESP32 + ATM90E26 board (pin map in pins.py, the same as esp32_atm90e26)."""
import simboard

NAME = "sim"
CHIP = "atm90e26"
HEAP = "512K"  # the simulator runs the firmware with -X heapsize=HEAP


def make_board():
    return simboard.make_board(NAME, CHIP)
