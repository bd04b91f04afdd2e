"""ESP32 + BL0942 meter board: pin map (GPIO numbers).

Wired as esp32_atm90e26 (see its pins.py for the rules this map keeps) except the metering IC:
the BL0942 talks UART at 4800 baud on UART2 (on the freed VSPI pins).

UARTs (the ESP32 has three): UART0 the console (boot ROM, logs, REPL), UART1 the service link,
UART2 the BL0942. None is left for an optical port: this board gets one when the BL0942 moves
to its SPI interface (SEL pin high), which frees UART2; until then OPTICAL_UART_ID is None.
"""
METER_UART_ID = 2
METER_TX = 23  # ESP32 TX -> BL0942 RX
METER_RX = 19  # BL0942 TX -> ESP32 RX
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

OPTICAL_UART_ID = None  # no UART left (see above)
OPTICAL_TX = None
OPTICAL_RX = None

RELAY_SET = 25
RELAY_RESET = 26
RELAY_SENSE = 36
MAINS_SENSE = 35
BUZZER = 4

MAGNET = 15
COVER = 5
