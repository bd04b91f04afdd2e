"""Simulated ESP32 + BL0942 board: wired like esp32_bl0942, whose pins.py the build takes."""
import simboard

NAME = "sim_bl0942"
CHIP = "bl0942"
HEAP = "1M"


def make_board():
    return simboard.make_board(NAME, CHIP)
