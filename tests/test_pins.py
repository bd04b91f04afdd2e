"""The ESP32 boards' pin maps keep the ESP32's rules (datasheet, errata 3.11); the sim boards use them."""
import importlib.util
import pathlib

import pytest

import link  # firmware/link.py

ROOT = pathlib.Path(__file__).resolve().parent.parent
BOARDS = ("esp32_atm90e26", "esp32_bl0942")
FLASH = set(range(6, 12))
PSRAM = {16, 17}
BOOT_CRITICAL = {0, 12}  # 0 low: download mode; 12 high: 1.8 V flash
STRAPPING = {0, 2, 5, 12, 15}
INPUT_ONLY = {34, 35, 36, 39}
GLITCHY = {36, 39}  # errata 3.11: ~80 ns lows when the ADC or radio powers up
# MCU pins whose level is only read (allowed on input-only pins)
INPUTS = {"SPI_MISO", "METER_CF", "KEY_INT", "LINK_RX", "OPTICAL_RX", "RELAY_SENSE",
          "MAINS_SENSE", "MAGNET", "COVER"}
IRQ_ACTS_AT_ONCE = {"METER_CF", "MAINS_SENSE"}  # an edge here is acted on without a second look
NOT_PINS = {"SPI_ID", "I2C_ID", "LCD_ADDR", "KEYPAD_ADDR", "RTC_ADDR", "LINK_UART_ID", "LINK_BAUD",
            "LINK_RXBUF", "OPTICAL_UART_ID", "KEY_ROWS", "KEY_COLS"}


def load(board):
    spec = importlib.util.spec_from_file_location("pins_" + board, ROOT / "boards" / board / "pins.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def mcu_pins(mod):
    return {k: v for k, v in vars(mod).items() if k.isupper() and k not in NOT_PINS and v is not None}


@pytest.mark.parametrize("board", BOARDS)
def test_each_gpio_once_and_none_the_module_or_boot_needs(board):
    pins = mcu_pins(load(board))
    used = list(pins.values())
    assert len(used) == len(set(used)), pins
    for name, gpio in pins.items():
        assert gpio not in FLASH | PSRAM | BOOT_CRITICAL, (name, gpio)


@pytest.mark.parametrize("board", BOARDS)
def test_input_only_pins_carry_inputs_and_no_urgent_irq_on_36_39(board):
    for name, gpio in mcu_pins(load(board)).items():
        if gpio in INPUT_ONLY:
            assert name in INPUTS, (name, gpio)
        if gpio in GLITCHY:
            assert name not in IRQ_ACTS_AT_ONCE, (name, gpio)


@pytest.mark.parametrize("board", BOARDS)
def test_chip_select_and_outputs_off_strapping_pins(board):
    for name, gpio in mcu_pins(load(board)).items():
        if gpio in STRAPPING:
            assert name in INPUTS, (name, gpio)  # only slow inputs there, never CS or a coil


@pytest.mark.parametrize("board", BOARDS)
def test_service_link_has_its_own_uart_holding_a_whole_request(board):
    p = load(board)
    assert p.LINK_UART_ID != 0  # UART0 is the console: boot ROM, ESP-IDF logs, REPL
    assert p.LINK_RXBUF >= link.MAX_LINE + 2  # a request of the maximum length and its CR LF
    uarts = [0, p.LINK_UART_ID, p.OPTICAL_UART_ID]
    assert len(uarts) == len(set(uarts)) and set(uarts) <= {0, 1, 2}


@pytest.mark.parametrize("board", BOARDS)
def test_every_board_has_an_optical_port_on_a_uart_of_its_own(board):
    """IS 15959 meters are read through the optical head (DLMS/COSEM), so every board wires one."""
    p = load(board)
    assert p.OPTICAL_UART_ID in (1, 2) and p.OPTICAL_UART_ID != p.LINK_UART_ID
    assert p.OPTICAL_TX is not None and p.OPTICAL_RX is not None
