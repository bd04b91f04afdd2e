"""Simulated ESP32 + ATM90E26 board: wired like esp32_atm90e26, whose pins.py the build takes."""
import simboard

NAME = "sim"
CHIP = "atm90e26"
HEAP = "512K"  # the simulator runs the firmware with -X heapsize=HEAP


def make_board():
    return simboard.make_board(NAME, CHIP)
