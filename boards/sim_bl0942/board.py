"""Simulated ESP32 + BL0942 board (pin map in pins.py, the same as esp32_bl0942)."""
import simboard

NAME = "sim_bl0942"
CHIP = "bl0942"
HEAP = "512K"


def make_board():
    return simboard.make_board(NAME, CHIP)
