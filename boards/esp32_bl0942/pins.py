"""ESP32 + BL0942 meter board: pin map (GPIO numbers).

Wired as esp32_atm90e26 (see its pins.py for the rules this map keeps), the metering IC included:
the BL0942's SEL pin is tied high, so it talks SPI (mode 1, 800 kHz) on VSPI with its own chip
select, and its CF1 pulses reach the same input.

UARTs (the ESP32 has three): UART0 the console (boot ROM, logs, REPL), UART1 the service link,
UART2 the optical port. On its UART interface the BL0942 would need the third UART for itself.
"""
SPI_ID = 2  # VSPI
SPI_SCK = 18  # BL0942 SCLK_BPS
SPI_MOSI = 23  # BL0942 RX/SDI
SPI_MISO = 19  # BL0942 TX/SDO
METER_CS = 33  # BL0942 A2_NCS (10k pull-up: deselected while the MCU boots)
METER_CF = 34  # BL0942 CF1 energy pulses (input-only): wakes an idle meter when a load appears

I2C_ID = 0
I2C_SDA = 21
I2C_SCL = 22
LCD_ADDR = 0x27
KEYPAD_ADDR = 0x20
KEY_INT = 39
KEY_ROWS = (0, 1, 2, 3)
KEY_COLS = (4, 5, 6, 7)
RTC_ADDR = 0x68

LINK_UART_ID = 1
LINK_TX = 32
LINK_RX = 27
LINK_BAUD = 115200
LINK_RXBUF = 2048  # bytes: one request of the link's maximum (1200) with room to spare

OPTICAL_UART_ID = 2  # optical port (IEC 62056-21), 9600 8N1
OPTICAL_TX = 13  # IR LED driver
OPTICAL_RX = 14  # IR phototransistor (10k pull-up)

RELAY_SET = 25
RELAY_RESET = 26
RELAY_SENSE = 36
MAINS_SENSE = 35
BUZZER = 4

MAGNET = 15
COVER = 5
