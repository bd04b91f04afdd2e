"""STS keypad tokens on the meter: decoding only (IEC 62055-41, EA07 / STA, 64-bit decoder keys).

A token is 20 decimal digits = a 66-bit number N. Its 2 class bits travel in N bits 28..27; the
bits of the 64-bit block that belong there travel in N bits 65..64. The block (encrypted with the
meter's decoder key, except class 1 test tokens) is:

    subclass [63:60] | random or field [59:56] | TID [55:32] | amount or field [31:16] | CRC [15:0]

The CRC is CRC-16 (reflected poly 0xA001, init 0xFFFF) over 7 bytes: the class in the first byte,
then block bits 63..16; it is stored low byte first, i.e. byte-swapped. Currency credit (class 0,
subclasses 4..7) appends one 0x01 byte before the CRC (CRC_C).

Only the meter's side is here: encoding and vending live on the host (host_tools/sts.py), so the
meter image carries no encoder. The decipher table is a constant (bytes literal: in flash when
frozen, loaded once at import otherwise), so decoding a token never needs a large allocation.
See docs/sts.md for the algorithm, the test vectors and their sources.
"""
import civiltime

CLASS_CREDIT = 0
CLASS_TEST = 1
CLASS_MANAGEMENT = 2

BASE_DATES = (1993, 2014, 2035)
TID_MAX = 0xFFFFFF
AMOUNT_RAW_MAX = 0xFFFF
AMOUNT_MAX = 18201624  # largest value the 16-bit amount field can carry (e=3, m=16383)

CREDIT_REGISTERS = ("electricity", "water", "gas", "time")
CLEAR_ALL_REGISTERS = 0xFFFF

# class 2 subclasses
SUB_SET_MAX_POWER = 0
SUB_CLEAR_CREDIT = 1
SUB_SET_TARIFF_RATE = 2
SUB_KEY_CHANGE_1 = 3
SUB_KEY_CHANGE_2 = 4
SUB_CLEAR_TAMPER = 5
SUB_SET_PHASE_UNBALANCE = 6
SUB_SET_WATER_FACTOR = 7

MANAGEMENT_KINDS = {
    SUB_SET_MAX_POWER: "set_max_power",
    SUB_CLEAR_CREDIT: "clear_credit",
    SUB_SET_TARIFF_RATE: "set_tariff_rate",
    SUB_KEY_CHANGE_1: "key_change_1",
    SUB_KEY_CHANGE_2: "key_change_2",
    SUB_CLEAR_TAMPER: "clear_tamper",
    SUB_SET_PHASE_UNBALANCE: "set_phase_unbalance",
    SUB_SET_WATER_FACTOR: "set_water_factor",
}

# Standard Transfer Algorithm tables (the "real" tables of EA07).
S1 = bytes((14, 10, 7, 9, 12, 3, 2, 5, 13, 0, 15, 1, 4, 8, 6, 11))
S2 = bytes((12, 8, 2, 13, 7, 6, 1, 3, 11, 5, 9, 15, 0, 4, 10, 14))
P = bytes((55, 42, 10, 18, 24, 21, 44, 35, 2, 22, 56, 43, 27, 58, 9, 50,
           6, 36, 12, 61, 37, 38, 53, 16, 62, 3, 7, 4, 32, 20, 63, 25,
           51, 52, 54, 33, 49, 19, 46, 29, 48, 31, 23, 30, 41, 28, 13, 5,
           40, 60, 39, 11, 15, 17, 1, 0, 57, 34, 59, 8, 47, 14, 45, 26))

# perm_table(inverse(P)) as a constant: entry (nibble position i, value v) at ((i << 4) | v) << 3
# holds the 8 bytes (block bits 8k..8k+7, k = 0..7) that v at nibble i lands on. A unit test
# checks it against perm_table().
DECIPHER_TABLE = (
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x00\x00\x00\x00\x00\x00\x00\x40\x00"
    b"\x00\x00\x00\x00\x00\x00\xc0\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x80\x00"
    b"\x00\x01\x00\x00\x00\x00\x40\x00\x00\x01\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x02\x00\x00\x00\x00"
    b"\x00\x00\x00\x02\x00\x00\x80\x00\x00\x00\x00\x02\x00\x00\x40\x00\x00\x00\x00\x02\x00\x00\xc0\x00"
    b"\x00\x01\x00\x02\x00\x00\x00\x00\x00\x01\x00\x02\x00\x00\x80\x00\x00\x01\x00\x02\x00\x00\x40\x00"
    b"\x00\x01\x00\x02\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x08\x00\x00\x00\x00"
    b"\x00\x00\x00\x00\x00\x80\x00\x00\x00\x00\x00\x08\x00\x80\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00"
    b"\x00\x00\x01\x08\x00\x00\x00\x00\x00\x00\x01\x00\x00\x80\x00\x00\x00\x00\x01\x08\x00\x80\x00\x00"
    b"\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x0c\x00\x00\x00\x00\x00\x00\x00\x04\x00\x80\x00\x00"
    b"\x00\x00\x00\x0c\x00\x80\x00\x00\x00\x00\x01\x04\x00\x00\x00\x00\x00\x00\x01\x0c\x00\x00\x00\x00"
    b"\x00\x00\x01\x04\x00\x80\x00\x00\x00\x00\x01\x0c\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    b"\x00\x00\x00\x00\x00\x00\x00\x08\x00\x40\x00\x00\x00\x00\x00\x00\x00\x40\x00\x00\x00\x00\x00\x08"
    b"\x04\x00\x00\x00\x00\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x08\x04\x40\x00\x00\x00\x00\x00\x00"
    b"\x04\x40\x00\x00\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00\x08\x08"
    b"\x00\x40\x00\x00\x00\x00\x08\x00\x00\x40\x00\x00\x00\x00\x08\x08\x04\x00\x00\x00\x00\x00\x08\x00"
    b"\x04\x00\x00\x00\x00\x00\x08\x08\x04\x40\x00\x00\x00\x00\x08\x00\x04\x40\x00\x00\x00\x00\x08\x08"
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x40\x00\x00"
    b"\x00\x00\x04\x00\x00\x40\x00\x00\x00\x00\x00\x00\x00\x00\x00\x20\x00\x00\x04\x00\x00\x00\x00\x20"
    b"\x00\x00\x00\x00\x00\x40\x00\x20\x00\x00\x04\x00\x00\x40\x00\x20\x00\x00\x00\x00\x00\x00\x10\x00"
    b"\x00\x00\x04\x00\x00\x00\x10\x00\x00\x00\x00\x00\x00\x40\x10\x00\x00\x00\x04\x00\x00\x40\x10\x00"
    b"\x00\x00\x00\x00\x00\x00\x10\x20\x00\x00\x04\x00\x00\x00\x10\x20\x00\x00\x00\x00\x00\x40\x10\x20"
    b"\x00\x00\x04\x00\x00\x40\x10\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x00\x00\x00\x00\x00"
    b"\x00\x00\x00\x00\x00\x00\x20\x00\x00\x00\x80\x00\x00\x00\x20\x00\x08\x00\x00\x00\x00\x00\x00\x00"
    b"\x08\x00\x80\x00\x00\x00\x00\x00\x08\x00\x00\x00\x00\x00\x20\x00\x08\x00\x80\x00\x00\x00\x20\x00"
    b"\x00\x00\x00\x00\x20\x00\x00\x00\x00\x00\x80\x00\x20\x00\x00\x00\x00\x00\x00\x00\x20\x00\x20\x00"
    b"\x00\x00\x80\x00\x20\x00\x20\x00\x08\x00\x00\x00\x20\x00\x00\x00\x08\x00\x80\x00\x20\x00\x00\x00"
    b"\x08\x00\x00\x00\x20\x00\x20\x00\x08\x00\x80\x00\x20\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    b"\x00\x00\x00\x20\x00\x00\x00\x00\x20\x00\x00\x00\x00\x00\x00\x00\x20\x00\x00\x20\x00\x00\x00\x00"
    b"\x00\x02\x00\x00\x00\x00\x00\x00\x00\x02\x00\x20\x00\x00\x00\x00\x20\x02\x00\x00\x00\x00\x00\x00"
    b"\x20\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x04\x00\x00\x00\x00\x00\x20\x00\x04\x00\x00"
    b"\x20\x00\x00\x00\x00\x04\x00\x00\x20\x00\x00\x20\x00\x04\x00\x00\x00\x02\x00\x00\x00\x04\x00\x00"
    b"\x00\x02\x00\x20\x00\x04\x00\x00\x20\x02\x00\x00\x00\x04\x00\x00\x20\x02\x00\x20\x00\x04\x00\x00"
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x10\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x00\x00\x00\x00"
    b"\x10\x00\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x10\x00\x00\x00\x00\x00\x00\x80"
    b"\x00\x00\x00\x80\x00\x00\x00\x80\x10\x00\x00\x80\x00\x00\x00\x80\x00\x10\x00\x00\x00\x00\x00\x00"
    b"\x10\x10\x00\x00\x00\x00\x00\x00\x00\x10\x00\x80\x00\x00\x00\x00\x10\x10\x00\x80\x00\x00\x00\x00"
    b"\x00\x10\x00\x00\x00\x00\x00\x80\x10\x10\x00\x00\x00\x00\x00\x80\x00\x10\x00\x80\x00\x00\x00\x80"
    b"\x10\x10\x00\x80\x00\x00\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x20\x00\x00"
    b"\x00\x00\x00\x00\x80\x00\x00\x00\x00\x00\x00\x00\x80\x20\x00\x00\x00\x00\x00\x00\x00\x08\x00\x00"
    b"\x00\x00\x00\x00\x00\x28\x00\x00\x00\x00\x00\x00\x80\x08\x00\x00\x00\x00\x00\x00\x80\x28\x00\x00"
    b"\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x22\x00\x00\x00\x00\x00\x00\x80\x02\x00\x00"
    b"\x00\x00\x00\x00\x80\x22\x00\x00\x00\x00\x00\x00\x00\x0a\x00\x00\x00\x00\x00\x00\x00\x2a\x00\x00"
    b"\x00\x00\x00\x00\x80\x0a\x00\x00\x00\x00\x00\x00\x80\x2a\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    b"\x00\x00\x00\x10\x00\x00\x00\x00\x00\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x10\x08\x00\x00\x00"
    b"\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x10\x00\x00\x00\x02\x00\x00\x00\x00\x08\x00\x00\x02"
    b"\x00\x00\x00\x10\x08\x00\x00\x02\x80\x00\x00\x00\x00\x00\x00\x00\x80\x00\x00\x10\x00\x00\x00\x00"
    b"\x80\x00\x00\x00\x08\x00\x00\x00\x80\x00\x00\x10\x08\x00\x00\x00\x80\x00\x00\x00\x00\x00\x00\x02"
    b"\x80\x00\x00\x10\x00\x00\x00\x02\x80\x00\x00\x00\x08\x00\x00\x02\x80\x00\x00\x10\x08\x00\x00\x02"
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x10\x00\x00\x00\x00\x00"
    b"\x00\x00\x12\x00\x00\x00\x00\x00\x00\x00\x20\x00\x00\x00\x00\x00\x00\x00\x22\x00\x00\x00\x00\x00"
    b"\x00\x00\x30\x00\x00\x00\x00\x00\x00\x00\x32\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x04\x00"
    b"\x00\x00\x02\x00\x00\x00\x04\x00\x00\x00\x10\x00\x00\x00\x04\x00\x00\x00\x12\x00\x00\x00\x04\x00"
    b"\x00\x00\x20\x00\x00\x00\x04\x00\x00\x00\x22\x00\x00\x00\x04\x00\x00\x00\x30\x00\x00\x00\x04\x00"
    b"\x00\x00\x32\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00"
    b"\x00\x00\x00\x00\x00\x10\x00\x00\x00\x00\x00\x00\x00\x10\x01\x00\x02\x00\x00\x00\x00\x00\x00\x00"
    b"\x02\x00\x00\x00\x00\x00\x01\x00\x02\x00\x00\x00\x00\x10\x00\x00\x02\x00\x00\x00\x00\x10\x01\x00"
    b"\x00\x08\x00\x00\x00\x00\x00\x00\x00\x08\x00\x00\x00\x00\x01\x00\x00\x08\x00\x00\x00\x10\x00\x00"
    b"\x00\x08\x00\x00\x00\x10\x01\x00\x02\x08\x00\x00\x00\x00\x00\x00\x02\x08\x00\x00\x00\x00\x01\x00"
    b"\x02\x08\x00\x00\x00\x10\x00\x00\x02\x08\x00\x00\x00\x10\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    b"\x40\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x40\x40\x00\x00\x00\x00\x00\x00\x40"
    b"\x00\x00\x00\x00\x40\x00\x00\x00\x40\x00\x00\x00\x40\x00\x00\x00\x00\x00\x00\x00\x40\x00\x00\x40"
    b"\x40\x00\x00\x00\x40\x00\x00\x40\x00\x00\x00\x00\x00\x00\x00\x10\x40\x00\x00\x00\x00\x00\x00\x10"
    b"\x00\x00\x00\x00\x00\x00\x00\x50\x40\x00\x00\x00\x00\x00\x00\x50\x00\x00\x00\x00\x40\x00\x00\x10"
    b"\x40\x00\x00\x00\x40\x00\x00\x10\x00\x00\x00\x00\x40\x00\x00\x50\x40\x00\x00\x00\x40\x00\x00\x50"
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x10\x00\x00\x00"
    b"\x00\x00\x00\x00\x10\x01\x00\x00\x00\x80\x00\x00\x00\x00\x00\x00\x00\x80\x00\x00\x00\x01\x00\x00"
    b"\x00\x80\x00\x00\x10\x00\x00\x00\x00\x80\x00\x00\x10\x01\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00"
    b"\x00\x00\x00\x00\x01\x01\x00\x00\x00\x00\x00\x00\x11\x00\x00\x00\x00\x00\x00\x00\x11\x01\x00\x00"
    b"\x00\x80\x00\x00\x01\x00\x00\x00\x00\x80\x00\x00\x01\x01\x00\x00\x00\x80\x00\x00\x11\x00\x00\x00"
    b"\x00\x80\x00\x00\x11\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00"
    b"\x00\x00\x40\x00\x00\x00\x00\x00\x00\x00\x40\x00\x02\x00\x00\x00\x00\x00\x00\x00\x04\x00\x00\x00"
    b"\x00\x00\x00\x00\x06\x00\x00\x00\x00\x00\x40\x00\x04\x00\x00\x00\x00\x00\x40\x00\x06\x00\x00\x00"
    b"\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x01\x00\x40\x00\x00\x00\x00\x00"
    b"\x01\x00\x40\x00\x02\x00\x00\x00\x01\x00\x00\x00\x04\x00\x00\x00\x01\x00\x00\x00\x06\x00\x00\x00"
    b"\x01\x00\x40\x00\x04\x00\x00\x00\x01\x00\x40\x00\x06\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    b"\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x04\x00\x00\x00\x00\x00\x01"
    b"\x00\x20\x00\x00\x00\x00\x00\x00\x00\x24\x00\x00\x00\x00\x00\x00\x00\x20\x00\x00\x00\x00\x00\x01"
    b"\x00\x24\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x04\x00\x04\x00\x00\x00\x00\x00\x04"
    b"\x00\x00\x00\x00\x00\x00\x00\x05\x00\x04\x00\x00\x00\x00\x00\x05\x00\x20\x00\x00\x00\x00\x00\x04"
    b"\x00\x24\x00\x00\x00\x00\x00\x04\x00\x20\x00\x00\x00\x00\x00\x05\x00\x24\x00\x00\x00\x00\x00\x05"
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x08\x00\x00\x00\x00\x00"
    b"\x00\x00\x08\x00\x00\x00\x02\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x02\x00"
    b"\x00\x00\x08\x01\x00\x00\x00\x00\x00\x00\x08\x01\x00\x00\x02\x00\x00\x00\x00\x40\x00\x00\x00\x00"
    b"\x00\x00\x00\x40\x00\x00\x02\x00\x00\x00\x08\x40\x00\x00\x00\x00\x00\x00\x08\x40\x00\x00\x02\x00"
    b"\x00\x00\x00\x41\x00\x00\x00\x00\x00\x00\x00\x41\x00\x00\x02\x00\x00\x00\x08\x41\x00\x00\x00\x00"
    b"\x00\x00\x08\x41\x00\x00\x02\x00"
)

_M64 = (1 << 64) - 1


class TokenError(ValueError):
    """A token the meter must refuse. `code` is "format", "crc", "class" or "expired"."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


# ---------------------------------------------------------------------------------------------
# The decipher


def perm_table(perm):
    """Byte table of a bit permutation: t[(((i << 4) | v) << 3) | k] = byte k of the 64-bit
    block that perm makes of nibble value v at nibble i. (Tests and other tables only: the meter
    uses the constant DECIPHER_TABLE.)"""
    t = bytearray(2048)
    for i in range(16):
        for v in range(16):
            base = ((i << 4) | v) << 3
            for b in range(4):
                if (v >> b) & 1:
                    dst = perm[(i << 2) | b]
                    t[base | (dst >> 3)] |= 1 << (dst & 7)
    return bytes(t)


def inverse(seq):
    inv = bytearray(len(seq))
    for i in range(len(seq)):
        inv[seq[i]] = i
    return bytes(inv)


class Decipher:
    """EA07 Standard Transfer Algorithm, decryption, on a block held as eight bytes (s[k] = block
    bits 8k..8k+7) so that every table lookup is a small integer.

    Decryption, round r = 0..15: inverse permutation, then nibble i through S1^-1 when decoder-key
    bit (4*i + r) mod 64 is 1, else through S2^-1 (the inverse of encryption round 15 - r, which
    picks S1 when key bit (4*i + 15 - r) mod 64 is 1, then permutes). Other tables (the standard's
    sample tables) may be given; the real ones use the constant table.
    """

    def __init__(self, s1=S1, s2=S2, perm=P):
        self._i1 = inverse(s1)
        self._i2 = inverse(s2)
        same = bytes(perm) == P
        self._t = DECIPHER_TABLE if same else perm_table(inverse(perm))
        self._s = bytearray(8)

    def decrypt(self, w, kbits):
        """Decrypt the words w (a list of 4 16-bit words, w[0] = bits 15..0; changed in place)
        with key bits kbits[0..63]."""
        s = self._s
        t = self._t
        i1 = self._i1
        i2 = self._i2
        for k in range(4):
            x = w[k]
            s[k << 1] = x & 255
            s[(k << 1) + 1] = x >> 8
        # r = -1: the first inverse permutation alone; r = 0..14: inverse substitution of round
        # r, then the inverse permutation that comes before round r + 1
        for r in range(-1, 15):
            n0 = n1 = n2 = n3 = n4 = n5 = n6 = n7 = 0
            for i in range(16):
                v = (s[i >> 1] >> ((i & 1) << 2)) & 15
                if r >= 0:
                    v = i1[v] if kbits[((i << 2) + r) & 63] else i2[v]
                j = ((i << 4) | v) << 3
                n0 |= t[j]
                n1 |= t[j + 1]
                n2 |= t[j + 2]
                n3 |= t[j + 3]
                n4 |= t[j + 4]
                n5 |= t[j + 5]
                n6 |= t[j + 6]
                n7 |= t[j + 7]
            s[0] = n0
            s[1] = n1
            s[2] = n2
            s[3] = n3
            s[4] = n4
            s[5] = n5
            s[6] = n6
            s[7] = n7
        # the last round: inverse substitution only
        for k in range(4):
            y = 0
            for q in range(4):
                i = (k << 2) | q
                v = (s[i >> 1] >> ((i & 1) << 2)) & 15
                v = i1[v] if kbits[((i << 2) + 15) & 63] else i2[v]
                y |= v << (q << 2)
            w[k] = y
        return w


_decipher = Decipher()


def block_to_words(block):
    return [block & 0xFFFF, (block >> 16) & 0xFFFF, (block >> 32) & 0xFFFF, (block >> 48) & 0xFFFF]


def words_to_block(w):
    return (w[3] << 48) | (w[2] << 32) | (w[1] << 16) | w[0]


def key_bits(key_bytes):
    """bytearray(64) with bit j of the 64-bit big-endian key at index j."""
    bits = bytearray(64)
    for j in range(64):
        bits[j] = (key_bytes[7 - (j >> 3)] >> (j & 7)) & 1
    return bits


# ---------------------------------------------------------------------------------------------
# CRC, transposition, amounts, time


def crc16(data):
    """CRC-16 (reflected poly 0xA001, init 0xFFFF) of data, byte-swapped as the token stores it."""
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            if crc & 1:
                crc = (crc >> 1) ^ 0xA001
            else:
                crc >>= 1
    return ((crc & 0xFF) << 8) | (crc >> 8)


def block_crc(cls, w, currency):
    """The CRC a plain block (words w) must carry in w[0]."""
    w3 = w[3]
    w2 = w[2]
    w1 = w[1]
    if currency:
        return crc16((cls, w3 >> 8, w3 & 255, w2 >> 8, w2 & 255, w1 >> 8, w1 & 255, 1))
    return crc16((cls, w3 >> 8, w3 & 255, w2 >> 8, w2 & 255, w1 >> 8, w1 & 255))


def split_token(n):
    """66-bit token number -> (class, words of the still-encrypted block)."""
    cls = (n >> 27) & 3
    w = block_to_words(n & _M64)
    w[1] = (w[1] & 0xE7FF) | (((n >> 65) & 1) << 12) | (((n >> 64) & 1) << 11)
    return cls, w


def parse_digits(text):
    """'1234 5678 ...' -> int; TokenError("format") unless exactly 20 digits below 2**66."""
    if not isinstance(text, str):
        raise TokenError("format")
    digits = text.replace(" ", "").replace("-", "").replace("\t", "")
    if len(digits) != 20:
        raise TokenError("format")
    for c in digits:
        if c not in "0123456789":
            raise TokenError("format")
    n = int(digits)
    if n >> 66:
        raise TokenError("format")
    return n


def amount_offset(e):
    # sum over n = 1..e of 2**14 * 10**(n-1)
    return 16384 * ((10 ** e - 1) // 9)


def decode_amount(raw):
    """16-bit amount field (2-bit exponent e, 14-bit mantissa m) -> value in transfer units."""
    e = (raw >> 14) & 3
    return (raw & 0x3FFF) * 10 ** e + amount_offset(e)


def decode_currency(raw, se):
    """Currency credit (class 0, subclasses 4..7): 5-bit exponent split over the amount field
    (bits 15, 14 = e1, e0) and the sign-and-exponent nibble (s, e4, e3, e2). Value in 10**-5
    currency units, negative when s is set."""
    e = ((raw >> 14) & 1) | (((raw >> 15) & 1) << 1) | ((se & 7) << 2)
    value = (raw & 0x3FFF) * 10 ** e + amount_offset(e)
    return -value if se & 8 else value


def _base_seconds(base_date):
    if base_date not in BASE_DATES:
        raise ValueError("base date must be one of 1993, 2014, 2035")
    return civiltime.seconds(base_date, 1, 1)


def tid_to_seconds(tid, base_date):
    """TID (minutes since base_date-01-01 00:00) -> seconds since 2000-01-01 local."""
    return _base_seconds(base_date) + tid * 60


def ken_expiry_tid(ken):
    """Key expiry number (0..255: the top 8 bits of the last TID the key accepts) -> that last
    TID. KEN 255 never expires."""
    if ken >= 255:
        return TID_MAX
    return (ken << 16) | 0xFFFF


# ---------------------------------------------------------------------------------------------
# Keys and tokens


class DecoderKey:
    """The meter's 64-bit decoder key and the parameters it was made for. expiry_tid: the last
    TID this key accepts (from the key expiry number; None: never expires)."""

    def __init__(self, key_bytes8, key_revision=1, key_type=2, supply_group=0, tariff_index=0,
                 base_date=1993, expiry_tid=None):
        if not isinstance(key_bytes8, (bytes, bytearray)) or len(key_bytes8) != 8:
            raise ValueError("decoder key must be 8 bytes")
        if base_date not in BASE_DATES:
            raise ValueError("base date must be one of 1993, 2014, 2035")
        self.key_bytes = bytes(key_bytes8)
        self.key_revision = key_revision
        self.key_type = key_type
        self.supply_group = supply_group
        self.tariff_index = tariff_index
        self.base_date = base_date
        self.expiry_tid = expiry_tid
        self._bits = key_bits(self.key_bytes)

    @classmethod
    def from_hex(cls, text, **kw):
        text = text.strip()
        if len(text) != 16:
            raise ValueError("decoder key must be 16 hex digits")
        try:
            raw = bytes(int(text[i:i + 2], 16) for i in range(0, 16, 2))
        except ValueError:
            raise ValueError("decoder key must be 16 hex digits")
        return cls(raw, **kw)

    def hex(self):
        return "".join("%02x" % b for b in self.key_bytes)

    def __repr__(self):
        return "DecoderKey(krn=%d, kt=%d, sgc=%s, ti=%s, base=%d)" % (
            self.key_revision, self.key_type, self.supply_group, self.tariff_index, self.base_date)


class Token:
    """A decoded token. Attributes that a token kind does not carry are None.

    authentic: the block decrypted with this meter's key to a known class/subclass with the
    right CRC (test tokens are never authentic: they are not encrypted, any meter takes them).
    """

    def __init__(self, cls, subclass, block, crc_ok):
        self.cls = cls
        self.subclass = subclass
        self.block = block
        self.crc_ok = crc_ok
        self.kind = None
        self.rnd = None
        self.tid = None
        self.amount = None
        self.raw_amount = None
        self.expired = False
        self.error = None
        self.authentic = False
        self._fields = {}

    def fields(self):
        """The decoded fields as a JSON-able dict (always holds class, subclass and kind)."""
        d = {"class": self.cls, "subclass": self.subclass, "kind": self.kind}
        if self.tid is not None:
            d["tid"] = self.tid
        if self.rnd is not None:
            d["rnd"] = self.rnd
        for k in self._fields:
            d[k] = self._fields[k]
        return d

    def __repr__(self):
        return "Token(%d/%d %s tid=%s amount=%s crc_ok=%s)" % (
            self.cls, self.subclass, self.kind, self.tid, self.amount, self.crc_ok)


def _fill(tok, w):
    """Fill tok from the plain block words; return None or the error code ("class")."""
    cls = tok.cls
    sub = tok.subclass
    w3 = w[3]
    w2 = w[2]
    w1 = w[1]
    f = tok._fields
    if cls == CLASS_TEST:
        tok.kind = "test"
        if sub == 0:
            f["control"] = ((w3 & 0xFFF) << 24) | (w2 << 8) | (w1 >> 8)
            f["manufacturer"] = w1 & 0xFF
        elif sub == 1:
            f["control"] = ((w3 & 0xFFF) << 16) | w2
            f["manufacturer"] = w1
        else:
            return "class"
        return None
    if cls == 3:
        return "class"
    if cls == CLASS_MANAGEMENT and sub in (SUB_KEY_CHANGE_1, SUB_KEY_CHANGE_2):
        tok.kind = MANAGEMENT_KINDS[sub]
        if sub == SUB_KEY_CHANGE_1:
            f["ken_high"] = (w3 >> 8) & 15
            f["key_revision"] = (w3 >> 4) & 15
            f["rollover"] = (w3 >> 3) & 1
            f["key_type"] = w3 & 3
            f["key_high"] = (w2 << 16) | w1
        else:
            f["ken_low"] = (w3 >> 8) & 15
            f["tariff_index"] = w3 & 0xFF
            f["key_low"] = (w2 << 16) | w1
        return None
    nib = (w3 >> 8) & 15
    tok.tid = ((w3 & 0xFF) << 16) | w2
    tok.raw_amount = w1
    if cls == CLASS_CREDIT:
        if sub < 4:
            tok.kind = "credit"
            tok.rnd = nib
            tok.amount = decode_amount(w1)
            f["register"] = CREDIT_REGISTERS[sub]
        elif sub < 8:
            tok.kind = "currency_credit"
            tok.amount = decode_currency(w1, nib)
            f["register"] = CREDIT_REGISTERS[sub - 4]
            f["se"] = nib
        else:
            return "class"
        f["amount"] = tok.amount
        f["raw_amount"] = w1
        return None
    # class 2, fields with a TID
    kind = MANAGEMENT_KINDS.get(sub)
    if kind is None:
        return "class"
    tok.kind = kind
    tok.rnd = nib
    if sub == SUB_SET_MAX_POWER or sub == SUB_SET_PHASE_UNBALANCE:
        f["watts"] = decode_amount(w1)
    elif sub == SUB_CLEAR_CREDIT:
        f["register"] = w1
        f["all"] = w1 == CLEAR_ALL_REGISTERS
    elif sub == SUB_SET_TARIFF_RATE:
        f["rate"] = w1
    elif sub == SUB_CLEAR_TAMPER:
        f["pad"] = w1
    elif sub == SUB_SET_WATER_FACTOR:
        f["factor"] = w1
    return None


def decode(token_int, key, strict=True):
    """Decode a token number (int, or the 20-digit text) with the meter's DecoderKey.

    strict: raise TokenError on a CRC mismatch ("crc"), an unsupported class or subclass
    ("class") or a token whose TID is past the key's expiry ("expired": IEC 62055-41 key expiry;
    credit and management tokens alike, key-change and test tokens carry no TID). With
    strict=False only "format" raises; the token comes back with .error set instead. A token
    refused as "expired" is still .authentic (it was made with this meter's key).
    """
    if isinstance(token_int, str):
        token_int = parse_digits(token_int)
    if not isinstance(token_int, int) or token_int < 0 or token_int >> 66:
        raise TokenError("format")
    cls, w = split_token(token_int)
    if cls != CLASS_TEST:
        _decipher.decrypt(w, key._bits)
    sub = w[3] >> 12
    crc_ok = block_crc(cls, w, cls == CLASS_CREDIT and 4 <= sub <= 7) == w[0]
    tok = Token(cls, sub, words_to_block(w), crc_ok)
    error = None if crc_ok else "crc"
    problem = _fill(tok, w)
    if error is None:
        error = problem
    tok.authentic = error is None and cls != CLASS_TEST
    if tok.tid is not None and key.expiry_tid is not None:
        tok.expired = tok.tid > key.expiry_tid
        if error is None and tok.expired:
            error = "expired"
    tok.error = error
    if strict and error is not None:
        raise TokenError(error)
    return tok


def key_change(first, second):
    """Combine the two decoded key-change tokens (either order) into the new key's parameters."""
    if first.kind == "key_change_2" and second.kind == "key_change_1":
        first, second = second, first
    if first.kind != "key_change_1" or second.kind != "key_change_2":
        raise TokenError("class")
    a = first._fields
    b = second._fields
    hi = a["key_high"]
    lo = b["key_low"]
    key = bytes(((hi >> 24) & 255, (hi >> 16) & 255, (hi >> 8) & 255, hi & 255,
                 (lo >> 24) & 255, (lo >> 16) & 255, (lo >> 8) & 255, lo & 255))
    return {
        "key": key,
        "key_revision": a["key_revision"],
        "key_type": a["key_type"],
        "rollover": a["rollover"],
        "tariff_index": b["tariff_index"],
        "ken": (a["ken_high"] << 4) | b["ken_low"],
    }


# ---------------------------------------------------------------------------------------------
# Anti-replay and keypad lockout


class TidStore:
    """The newest consumed TIDs. check() -> None (fresh), "used" (seen) or "old" (older than
    every remembered TID while the store is full, so it may have been used and forgotten)."""

    def __init__(self, size=50):
        if size < 1:
            raise ValueError("size must be positive")
        self.size = size
        self._tids = []  # ascending

    def __len__(self):
        return len(self._tids)

    def check(self, tid):
        tids = self._tids
        if tid in tids:
            return "used"
        if len(tids) >= self.size and tid < tids[0]:
            return "old"
        return None

    def add(self, tid):
        tids = self._tids
        if tid in tids:
            return
        i = len(tids)
        while i > 0 and tids[i - 1] > tid:
            i -= 1
        tids.insert(i, tid)
        while len(tids) > self.size:
            tids.pop(0)

    def clear(self):
        self._tids = []

    def newest(self):
        return self._tids[-1] if self._tids else None

    def state(self):
        return {"tids": list(self._tids)}

    def restore(self, d):
        tids = []
        for t in (d or {}).get("tids", ()):
            if isinstance(t, int) and 0 <= t <= TID_MAX and t not in tids:
                tids.append(t)
        tids.sort()
        self._tids = tids[-self.size:] if len(tids) > self.size else tids


class KeypadGuard:
    """Locks token entry after max_failures refused tokens in a row: for lock_minutes the first
    time, doubling with every further lockout (up to max_lock_minutes). Only a token that
    authenticates with the meter's own key and is fresh clears the count and the doubling (the
    caller decides: record(True, ...)); a public test token or a replayed one never does.

    now_s is a clock that runs only while the meter runs (its running seconds, not the RTC):
    neither setting the clock nor cutting the power shortens a lockout. state() keeps the seconds
    still to wait; restore() starts them again from the new run's clock.
    """

    def __init__(self, max_failures=5, lock_minutes=5, max_lock_minutes=24 * 60):
        self.max_failures = max_failures
        self.lock_minutes = lock_minutes
        self.max_lock_minutes = max_lock_minutes
        self._fails = 0
        self._lockouts = 0
        self._until = None
        self._lock_s = 0

    def allowed(self, now_s):
        """(True, 0) when a token may be entered, else (False, seconds until it may)."""
        if self._until is not None:
            left = self._until - now_s
            if left > 0:
                if left > self._lock_s:  # never locked longer than the lockout itself
                    left = self._lock_s
                    self._until = now_s + left
                return False, left
            self._until = None
        return True, 0

    def lock_seconds(self, lockouts):
        """Length of the lockouts-th lockout in a row (1 = the first)."""
        minutes = self.lock_minutes
        for _ in range(lockouts - 1):
            minutes *= 2
            if minutes >= self.max_lock_minutes:
                break
        if minutes > self.max_lock_minutes:
            minutes = self.max_lock_minutes
        return minutes * 60

    def record(self, ok, now_s):
        """Count a token entry (ok: it authenticated and was fresh); returns allowed(now_s)."""
        state = self.allowed(now_s)
        if not state[0]:
            return state
        if ok:
            self._fails = 0
            self._lockouts = 0
        else:
            self._fails += 1
            if self._fails >= self.max_failures:
                self._fails = 0
                self._lockouts += 1
                self._lock_s = self.lock_seconds(self._lockouts)
                self._until = now_s + self._lock_s
        return self.allowed(now_s)

    def failures(self):
        return self._fails

    def state(self, now_s):
        left = self.allowed(now_s)[1]
        return {"fails": self._fails, "lockouts": self._lockouts, "left": left, "lock_s": self._lock_s}

    def restore(self, d, now_s):
        d = d or {}
        self._fails = int(d.get("fails", 0))
        self._lockouts = int(d.get("lockouts", 0))
        self._lock_s = int(d.get("lock_s", 0))
        if "left" in d:
            left = int(d["left"])
        else:  # saved by 0.3.0 as an RTC time that means nothing now: wait the whole lockout
            left = self._lock_s if d.get("until") is not None else 0
        if left > self._lock_s:
            left = self._lock_s
        self._until = now_s + left if left > 0 else None
