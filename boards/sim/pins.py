"""Simulated ESP32 + ATM90E26 meter board: the same pin map as boards/esp32_atm90e26.

The simulated hardware (hardware.py) wires its device models to these GPIO numbers.
"""
SPI_ID = 2  # VSPI
SPI_SCK = 18
SPI_MOSI = 23
SPI_MISO = 19
METER_CS = 5  # ATM90E26 chip select (high at boot: the chip stays deselected)

I2C_ID = 0
I2C_SDA = 21
I2C_SCL = 22
LCD_ADDR = 0x27  # PCF8574 backpack

KEY_ROWS = (32, 33, 25, 26)
KEY_COLS = (27, 14, 13, 39)

RELAY_SET = 16  # coil driver: closes the contacts
RELAY_RESET = 17  # coil driver: opens the contacts
RELAY_SENSE = 34  # auxiliary contact, 1 = main contacts closed
MAINS_SENSE = 35  # 1 = mains present; falls ~40 ms before the 3V3 rail collapses
BUZZER = 4
