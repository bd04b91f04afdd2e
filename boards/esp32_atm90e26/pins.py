"""ESP32 + ATM90E26 meter board: pin map (GPIO numbers), for ESP32-WROOM-32 and -WROVER modules.

Rules this map keeps (ESP32 datasheet and errata):
- GPIO6-11 belong to the module's SPI flash; GPIO16/17 to the PSRAM of WROVER modules: unused.
- Strapping pins 0, 2, 5, 12, 15 drive nothing the boot can upset: 0 and 12 are unused (0 low
  = download mode, 12 high = 1.8 V flash); 5 and 15 carry only slow tamper inputs (1k series).
- GPIO34-39 are input-only with no internal pulls: every one has a 10k pull-up on the board and
  the firmware never asks for a pull on them.
- GPIO36/39 see ~80 ns low glitches when the ADC or the radio powers up (errata 3.11): no IRQ
  that acts at once sits there. 36 is the relay's contact sense (polled); 39 is the keypad
  expander's /INT, which only starts a scan: a glitch finds no key down and is ignored.

UARTs (the ESP32 has three):
- UART0 (GPIO1/3): the console: boot ROM messages, ESP-IDF logs, tracebacks, the REPL (mpremote
  deploy). Nothing of the meter's protocols runs here.
- UART1: the service link (meterctl), 115200 8N1, rx buffer LINK_RXBUF (a whole 1200-byte request).
- UART2: the optical port (IEC 62056-21 / DLMS), 9600 8N1.

The keypad sits behind a PCF8574 on the I2C bus (rows P0-P3, columns P4-P7), with the LCD
backpack and the battery-backed DS3231 RTC.
"""
SPI_ID = 2  # VSPI
SPI_SCK = 18
SPI_MOSI = 23
SPI_MISO = 19
METER_CS = 33  # ATM90E26 chip select (10k pull-up: deselected while the MCU boots)
METER_CF = 34  # ATM90E26 CF1 active-energy pulses (input-only, 10k pull-up): wakes an idle meter

I2C_ID = 0
I2C_SDA = 21
I2C_SCL = 22
LCD_ADDR = 0x27  # PCF8574 backpack of the 16x2 LCD
KEYPAD_ADDR = 0x20  # PCF8574 with the 4x4 keypad matrix
KEY_INT = 39  # its /INT (open-drain, 10k pull-up); glitches only start a scan (errata 3.11)
KEY_ROWS = (0, 1, 2, 3)  # expander lines P0-P3 (open-drain rows)
KEY_COLS = (4, 5, 6, 7)  # expander lines P4-P7 (inputs, the expander's weak pull-ups)
RTC_ADDR = 0x68  # DS3231 battery-backed RTC (CR2032)

LINK_UART_ID = 1  # service link (meterctl), off the console
LINK_TX = 32
LINK_RX = 27
LINK_BAUD = 115200
LINK_RXBUF = 2048  # bytes: one request of the link's maximum (1200) with room to spare

OPTICAL_UART_ID = 2  # optical port (IEC 62056-21), 9600 8N1
OPTICAL_TX = 13  # IR LED driver
OPTICAL_RX = 14  # IR phototransistor (10k pull-up)

RELAY_SET = 25  # coil driver: closes the contacts
RELAY_RESET = 26  # coil driver: opens the contacts
RELAY_SENSE = 36  # auxiliary contact, 1 = main contacts closed (polled, 10k pull-up)
MAINS_SENSE = 35  # 1 = mains present; falls ~40 ms before the 3V3 rail collapses (IRQ)
BUZZER = 4

MAGNET = 15  # hall sensor, open-drain, 10k pull-up (for the tamper inputs; polled)
COVER = 5  # terminal-cover switch, 10k pull-up (for the tamper inputs; polled)
