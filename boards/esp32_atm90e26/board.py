"""ESP32 + ATM90E26 meter board: the real drivers wired to the pins in pins.py.

The service port is the USB/UART console; Ctrl-C there is an ordinary byte because the firmware
turns keyboard interrupts off.
"""
import hal
import machine
import pins

NAME = "esp32_atm90e26"
CHIP = "atm90e26"


def make_board():
    return hal.make_device_board(machine, pins, NAME, CHIP)
