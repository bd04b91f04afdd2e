"""ESP32 + ATM90E26 meter board: pin map (GPIO numbers).

GPIO 34-39 are input-only without internal pulls: relay contact sense, mains sense, CF pulses and
keypad column 3 have 10k pull-ups on the board. Strapping pins 0, 2, 12, 15 are left unused.
"""
SPI_ID = 2  # VSPI
SPI_SCK = 18
SPI_MOSI = 23
SPI_MISO = 19
METER_CS = 5  # ATM90E26 chip select (high at boot: the chip stays deselected)
METER_CF = 36  # ATM90E26 CF1 active-energy pulses (input-only pin, 10k pull-up): wakes an idle meter

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
