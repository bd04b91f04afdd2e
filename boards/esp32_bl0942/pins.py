"""ESP32 + BL0942 meter board: pin map (GPIO numbers).

The BL0942 talks UART at 4800 baud on UART2; everything else is wired as on esp32_atm90e26.
"""
METER_UART_ID = 2
METER_TX = 23  # ESP32 TX -> BL0942 RX
METER_RX = 19  # BL0942 TX -> ESP32 RX

I2C_ID = 0
I2C_SDA = 21
I2C_SCL = 22
LCD_ADDR = 0x27

KEY_ROWS = (32, 33, 25, 26)
KEY_COLS = (27, 14, 13, 39)

RELAY_SET = 16
RELAY_RESET = 17
RELAY_SENSE = 34
MAINS_SENSE = 35
BUZZER = 4
