"""ESP32 + BL0942 meter board: the real drivers wired to the pins in pins.py (BL0942 on SPI)."""
import hal
import machine
import pins

NAME = "esp32_bl0942"
CHIP = "bl0942"


def make_board():
    return hal.make_device_board(machine, pins, NAME, CHIP)
