"""The COSEM object model of the meter (IS 15959 logical names), read from the live meter.

The table is compact data: constant byte strings (one record per object, per register, per
profile column) that a frozen image keeps in flash, so the table costs the heap nothing. Values
are produced on request from `src` (dlms/source.py: the running meter's energy, measurements,
account, relay, event log and block-load ring), as generators that write one small chunk at a
time, so a profile of any length goes out in blocks without being held in memory.

Access: the public client (0x10) reads the association, the clock and the nameplate; the
reader (0x20, LLS) reads everything; the utility (0x30, HLS) reads everything, sets the clock
and operates the disconnect control.
"""
from dlms import axdr
from dlms.xdlms import (PUBLIC, READER, UTILITY, Refused, DENIED, UNDEFINED, CLASS_INCONSISTENT,
                        TYPE_UNMATCHED, SCOPE_VIOLATED, UNAVAILABLE, OTHER, CONFORMANCE, PDU_SIZE)


def obis(b):
    return "%d.%d.%d.%d.%d.%d" % tuple(b)


# units (IEC 62056-6-2)
U_TIME_S = 7
U_W = 27
U_WH = 30
U_A = 33
U_V = 35
U_HZ = 44
U_NONE = 255

CLOCK = b"\x00\x00\x01\x00\x00\xff"
ASSOC = b"\x00\x00\x28\x00\x00\xff"
SERIAL = b"\x00\x00\x60\x01\x00\xff"
MAKER = b"\x00\x00\x60\x01\x01\xff"
FIRMWARE = b"\x01\x00\x00\x02\x00\xff"
METER_TYPE = b"\x00\x00\x5e\x5b\x09\xff"
CATEGORY = b"\x00\x00\x5e\x5b\x0b\xff"
RATING = b"\x00\x00\x5e\x5b\x0c\xff"
NAMEPLATE = b"\x00\x00\x5e\x5b\x0a\xff"
CAPTURE_PERIOD = b"\x01\x00\x00\x08\x04\xff"
IMPORT = b"\x01\x00\x01\x08\x00\xff"
EXPORT = b"\x01\x00\x02\x08\x00\xff"
VOLTAGE = b"\x01\x00\x0c\x07\x00\xff"
CURRENT = b"\x01\x00\x0b\x07\x00\xff"
POWER = b"\x01\x00\x01\x07\x00\xff"
PF = b"\x01\x00\x0d\x07\x00\xff"
FREQ = b"\x01\x00\x0e\x07\x00\xff"
BLOCK_IMPORT = b"\x01\x00\x01\x1d\x00\xff"
BLOCK_EXPORT = b"\x01\x00\x02\x1d\x00\xff"
AVG_VOLTAGE = b"\x01\x00\x0c\x1b\x00\xff"
INSTANT = b"\x01\x00\x5e\x5b\x00\xff"
BLOCK_LOAD = b"\x01\x00\x63\x01\x00\xff"
DAILY = b"\x01\x00\x63\x02\x00\xff"
BILLING = b"\x01\x00\x62\x01\x00\xff"
DISCONNECT = b"\x00\x00\x60\x03\x0a\xff"
LIMITER = b"\x00\x00\x11\x00\x00\xff"
METERING_MODE = b"\x00\x00\x5e\x60\x13\xff"
PAYMENT_MODE = b"\x00\x00\x5e\x60\x14\xff"
LAST_RECHARGE = b"\x00\x00\x5e\x60\x15\xff"
LAST_RECHARGE_TIME = b"\x00\x00\x5e\x60\x16\xff"
TOTAL_AT_RECHARGE = b"\x00\x00\x5e\x60\x17\xff"
BALANCE = b"\x00\x00\x5e\x60\x18\xff"
BALANCE_TIME = b"\x00\x00\x5e\x60\x19\xff"
ARREARS = b"\x00\x00\x5e\x60\x1a\xff"

# object kinds
K_ASSOC, K_CLOCK, K_DATA, K_REG, K_PROFILE, K_DISCONNECT, K_LIMITER = range(7)
_ATTRIBUTES = b"\x09\x09\x02\x03\x08\x04\x0b"  # attribute count by kind
_METHODS = b"\x01\x00\x00\x00\x00\x02\x00"  # method count by kind

EVENT_GROUPS = 7  # 0 voltage, 1 current, 2 power, 3 transaction, 4 other, 5 non-rollover, 6 control

# the meter's event log codes and their IS 15959 group * 1000 + event id (docs/dlms.md)
_EVENT_IDS = (" overload_trip 1051 overload_ack 1052 overload_reset 1052 power_fail 2101 boot 2102"
              " clock_set 3151 provisioned 3152 credit 3153 emergency_credit 3154 link_key_set 3155"
              " tamper_disconnect 4201 tamper_cleared 4202 clock_jump 4203 clock_lost 4204"
              " metering_ic_error 4205 cover_open 5251 relay_open 6301 relay_closed 6302 ")


def event_id(code):
    """(group, IS 15959 event id) of an event log code, or None if it has none."""
    if not code or " " in code:
        return None
    i = _EVENT_IDS.find(" " + code + " ")
    if i < 0:
        return None
    i += len(code) + 2
    v = int(_EVENT_IDS[i:i + 4])
    return v // 1000, v % 1000


def event_group(name):
    """The group of an event profile (0.0.99.98.g.255) or event code object (0.0.96.11.g.255)."""
    if name[0] == 0 and name[1] == 0 and name[5] == 255 and name[4] < EVENT_GROUPS:
        if name[2] == 99 and name[3] == 98:
            return name[4], True
        if name[2] == 96 and name[3] == 11:
            return name[4], False
    return None, False


_OBJECTS = (  # 10 bytes each: logical name, class, version, lowest association, kind
    b"\x00\x00\x28\x00\x00\xff\x0f\x01\x00\x00"  # 0.0.40.0.0.255 [15]
    b"\x00\x00\x01\x00\x00\xff\x08\x00\x00\x01"  # 0.0.1.0.0.255 [8]
    b"\x00\x00\x60\x01\x00\xff\x01\x00\x00\x02"  # 0.0.96.1.0.255 [1]
    b"\x00\x00\x60\x01\x01\xff\x01\x00\x00\x02"  # 0.0.96.1.1.255 [1]
    b"\x01\x00\x00\x02\x00\xff\x01\x00\x00\x02"  # 1.0.0.2.0.255 [1]
    b"\x00\x00\x5e\x5b\x09\xff\x01\x00\x00\x02"  # 0.0.94.91.9.255 [1]
    b"\x00\x00\x5e\x5b\x0b\xff\x01\x00\x00\x02"  # 0.0.94.91.11.255 [1]
    b"\x00\x00\x5e\x5b\x0c\xff\x01\x00\x00\x02"  # 0.0.94.91.12.255 [1]
    b"\x00\x00\x5e\x5b\x0a\xff\x07\x01\x00\x04"  # 0.0.94.91.10.255 [7]
    b"\x01\x00\x00\x08\x04\xff\x01\x00\x01\x02"  # 1.0.0.8.4.255 [1]
    b"\x01\x00\x01\x08\x00\xff\x03\x00\x01\x03"  # 1.0.1.8.0.255 [3]
    b"\x01\x00\x02\x08\x00\xff\x03\x00\x01\x03"  # 1.0.2.8.0.255 [3]
    b"\x01\x00\x0c\x07\x00\xff\x03\x00\x01\x03"  # 1.0.12.7.0.255 [3]
    b"\x01\x00\x0b\x07\x00\xff\x03\x00\x01\x03"  # 1.0.11.7.0.255 [3]
    b"\x01\x00\x01\x07\x00\xff\x03\x00\x01\x03"  # 1.0.1.7.0.255 [3]
    b"\x01\x00\x0d\x07\x00\xff\x03\x00\x01\x03"  # 1.0.13.7.0.255 [3]
    b"\x01\x00\x0e\x07\x00\xff\x03\x00\x01\x03"  # 1.0.14.7.0.255 [3]
    b"\x01\x00\x01\x1d\x00\xff\x03\x00\x01\x03"  # 1.0.1.29.0.255 [3]
    b"\x01\x00\x02\x1d\x00\xff\x03\x00\x01\x03"  # 1.0.2.29.0.255 [3]
    b"\x01\x00\x0c\x1b\x00\xff\x03\x00\x01\x03"  # 1.0.12.27.0.255 [3]
    b"\x01\x00\x5e\x5b\x00\xff\x07\x01\x01\x04"  # 1.0.94.91.0.255 [7]
    b"\x01\x00\x63\x01\x00\xff\x07\x01\x01\x04"  # 1.0.99.1.0.255 [7]
    b"\x01\x00\x63\x02\x00\xff\x07\x01\x01\x04"  # 1.0.99.2.0.255 [7]
    b"\x01\x00\x62\x01\x00\xff\x07\x01\x01\x04"  # 1.0.98.1.0.255 [7]
    b"\x01\x00\x5e\x5b\x03\xff\x07\x01\x01\x04"  # 1.0.94.91.3.255 [7]
    b"\x01\x00\x5e\x5b\x04\xff\x07\x01\x01\x04"  # 1.0.94.91.4.255 [7]
    b"\x01\x00\x5e\x5b\x05\xff\x07\x01\x01\x04"  # 1.0.94.91.5.255 [7]
    b"\x01\x00\x5e\x5b\x06\xff\x07\x01\x01\x04"  # 1.0.94.91.6.255 [7]
    b"\x01\x00\x5e\x5b\x07\xff\x07\x01\x01\x04"  # 1.0.94.91.7.255 [7]
    b"\x00\x00\x63\x62\x00\xff\x07\x01\x01\x04"  # 0.0.99.98.0.255 [7]
    b"\x00\x00\x63\x62\x01\xff\x07\x01\x01\x04"  # 0.0.99.98.1.255 [7]
    b"\x00\x00\x63\x62\x02\xff\x07\x01\x01\x04"  # 0.0.99.98.2.255 [7]
    b"\x00\x00\x63\x62\x03\xff\x07\x01\x01\x04"  # 0.0.99.98.3.255 [7]
    b"\x00\x00\x63\x62\x04\xff\x07\x01\x01\x04"  # 0.0.99.98.4.255 [7]
    b"\x00\x00\x63\x62\x05\xff\x07\x01\x01\x04"  # 0.0.99.98.5.255 [7]
    b"\x00\x00\x63\x62\x06\xff\x07\x01\x01\x04"  # 0.0.99.98.6.255 [7]
    b"\x00\x00\x60\x0b\x00\xff\x01\x00\x01\x02"  # 0.0.96.11.0.255 [1]
    b"\x00\x00\x60\x0b\x01\xff\x01\x00\x01\x02"  # 0.0.96.11.1.255 [1]
    b"\x00\x00\x60\x0b\x02\xff\x01\x00\x01\x02"  # 0.0.96.11.2.255 [1]
    b"\x00\x00\x60\x0b\x03\xff\x01\x00\x01\x02"  # 0.0.96.11.3.255 [1]
    b"\x00\x00\x60\x0b\x04\xff\x01\x00\x01\x02"  # 0.0.96.11.4.255 [1]
    b"\x00\x00\x60\x0b\x05\xff\x01\x00\x01\x02"  # 0.0.96.11.5.255 [1]
    b"\x00\x00\x60\x0b\x06\xff\x01\x00\x01\x02"  # 0.0.96.11.6.255 [1]
    b"\x00\x00\x5e\x60\x13\xff\x01\x00\x01\x02"  # 0.0.94.96.19.255 [1]
    b"\x00\x00\x5e\x60\x14\xff\x01\x00\x01\x02"  # 0.0.94.96.20.255 [1]
    b"\x00\x00\x5e\x60\x15\xff\x01\x00\x01\x02"  # 0.0.94.96.21.255 [1]
    b"\x00\x00\x5e\x60\x16\xff\x01\x00\x01\x02"  # 0.0.94.96.22.255 [1]
    b"\x00\x00\x5e\x60\x17\xff\x01\x00\x01\x02"  # 0.0.94.96.23.255 [1]
    b"\x00\x00\x5e\x60\x18\xff\x01\x00\x01\x02"  # 0.0.94.96.24.255 [1]
    b"\x00\x00\x5e\x60\x19\xff\x01\x00\x01\x02"  # 0.0.94.96.25.255 [1]
    b"\x00\x00\x5e\x60\x1a\xff\x01\x00\x01\x02"  # 0.0.94.96.26.255 [1]
    b"\x00\x00\x60\x03\x0a\xff\x46\x00\x01\x05"  # 0.0.96.3.10.255 [70]
    b"\x00\x00\x11\x00\x00\xff\x47\x00\x01\x06"  # 0.0.17.0.0.255 [71]
)
_REGISTERS = (  # 9 bytes each: logical name, A-XDR type, scaler (signed), unit
    b"\x01\x00\x01\x08\x00\xff\x06\x00\x1e"  # 1.0.1.8.0.255
    b"\x01\x00\x02\x08\x00\xff\x06\x00\x1e"  # 1.0.2.8.0.255
    b"\x01\x00\x0c\x07\x00\xff\x12\xfe\x23"  # 1.0.12.7.0.255
    b"\x01\x00\x0b\x07\x00\xff\x06\xfd\x21"  # 1.0.11.7.0.255
    b"\x01\x00\x01\x07\x00\xff\x05\x00\x1b"  # 1.0.1.7.0.255
    b"\x01\x00\x0d\x07\x00\xff\x10\xfd\xff"  # 1.0.13.7.0.255
    b"\x01\x00\x0e\x07\x00\xff\x12\xfe\x2c"  # 1.0.14.7.0.255
    b"\x01\x00\x01\x1d\x00\xff\x06\x00\x1e"  # 1.0.1.29.0.255
    b"\x01\x00\x02\x1d\x00\xff\x06\x00\x1e"  # 1.0.2.29.0.255
    b"\x01\x00\x0c\x1b\x00\xff\x12\xfe\x23"  # 1.0.12.27.0.255
)
_PROFILES = (  # logical name, column count; 8 bytes a column: class, logical name, attribute
    b"\x00\x00\x5e\x5b\x0a\xff\x06"  # 0.0.94.91.10.255, 6 columns
    b"\x01\x00\x00\x60\x01\x00\xff\x02"  #   1 0.0.96.1.0.255 2
    b"\x01\x00\x00\x60\x01\x01\xff\x02"  #   1 0.0.96.1.1.255 2
    b"\x01\x01\x00\x00\x02\x00\xff\x02"  #   1 1.0.0.2.0.255 2
    b"\x01\x00\x00\x5e\x5b\x09\xff\x02"  #   1 0.0.94.91.9.255 2
    b"\x01\x00\x00\x5e\x5b\x0b\xff\x02"  #   1 0.0.94.91.11.255 2
    b"\x01\x00\x00\x5e\x5b\x0c\xff\x02"  #   1 0.0.94.91.12.255 2
    b"\x01\x00\x5e\x5b\x00\xff\x08"  # 1.0.94.91.0.255, 8 columns
    b"\x08\x00\x00\x01\x00\x00\xff\x02"  #   8 0.0.1.0.0.255 2
    b"\x03\x01\x00\x0c\x07\x00\xff\x02"  #   3 1.0.12.7.0.255 2
    b"\x03\x01\x00\x0b\x07\x00\xff\x02"  #   3 1.0.11.7.0.255 2
    b"\x03\x01\x00\x01\x07\x00\xff\x02"  #   3 1.0.1.7.0.255 2
    b"\x03\x01\x00\x0d\x07\x00\xff\x02"  #   3 1.0.13.7.0.255 2
    b"\x03\x01\x00\x0e\x07\x00\xff\x02"  #   3 1.0.14.7.0.255 2
    b"\x03\x01\x00\x01\x08\x00\xff\x02"  #   3 1.0.1.8.0.255 2
    b"\x03\x01\x00\x02\x08\x00\xff\x02"  #   3 1.0.2.8.0.255 2
    b"\x01\x00\x63\x01\x00\xff\x04"  # 1.0.99.1.0.255, 4 columns
    b"\x08\x00\x00\x01\x00\x00\xff\x02"  #   8 0.0.1.0.0.255 2
    b"\x03\x01\x00\x01\x1d\x00\xff\x02"  #   3 1.0.1.29.0.255 2
    b"\x03\x01\x00\x02\x1d\x00\xff\x02"  #   3 1.0.2.29.0.255 2
    b"\x03\x01\x00\x0c\x1b\x00\xff\x02"  #   3 1.0.12.27.0.255 2
    b"\x01\x00\x63\x02\x00\xff\x04"  # 1.0.99.2.0.255, 4 columns
    b"\x08\x00\x00\x01\x00\x00\xff\x02"  #   8 0.0.1.0.0.255 2
    b"\x03\x01\x00\x01\x08\x00\xff\x02"  #   3 1.0.1.8.0.255 2
    b"\x03\x01\x00\x02\x08\x00\xff\x02"  #   3 1.0.2.8.0.255 2
    b"\x01\x00\x00\x5e\x60\x18\xff\x02"  #   1 0.0.94.96.24.255 2
    b"\x01\x00\x62\x01\x00\xff\x03"  # 1.0.98.1.0.255, 3 columns
    b"\x08\x00\x00\x01\x00\x00\xff\x02"  #   8 0.0.1.0.0.255 2
    b"\x03\x01\x00\x01\x08\x00\xff\x02"  #   3 1.0.1.8.0.255 2
    b"\x03\x01\x00\x02\x08\x00\xff\x02"  #   3 1.0.2.8.0.255 2
    b"\x01\x00\x5e\x5b\x03\xff\x07"  # 1.0.94.91.3.255, 7 columns
    b"\x03\x01\x00\x0c\x07\x00\xff\x03"  #   3 1.0.12.7.0.255 3
    b"\x03\x01\x00\x0b\x07\x00\xff\x03"  #   3 1.0.11.7.0.255 3
    b"\x03\x01\x00\x01\x07\x00\xff\x03"  #   3 1.0.1.7.0.255 3
    b"\x03\x01\x00\x0d\x07\x00\xff\x03"  #   3 1.0.13.7.0.255 3
    b"\x03\x01\x00\x0e\x07\x00\xff\x03"  #   3 1.0.14.7.0.255 3
    b"\x03\x01\x00\x01\x08\x00\xff\x03"  #   3 1.0.1.8.0.255 3
    b"\x03\x01\x00\x02\x08\x00\xff\x03"  #   3 1.0.2.8.0.255 3
    b"\x01\x00\x5e\x5b\x04\xff\x03"  # 1.0.94.91.4.255, 3 columns
    b"\x03\x01\x00\x01\x1d\x00\xff\x03"  #   3 1.0.1.29.0.255 3
    b"\x03\x01\x00\x02\x1d\x00\xff\x03"  #   3 1.0.2.29.0.255 3
    b"\x03\x01\x00\x0c\x1b\x00\xff\x03"  #   3 1.0.12.27.0.255 3
    b"\x01\x00\x5e\x5b\x05\xff\x02"  # 1.0.94.91.5.255, 2 columns
    b"\x03\x01\x00\x01\x08\x00\xff\x03"  #   3 1.0.1.8.0.255 3
    b"\x03\x01\x00\x02\x08\x00\xff\x03"  #   3 1.0.2.8.0.255 3
    b"\x01\x00\x5e\x5b\x06\xff\x02"  # 1.0.94.91.6.255, 2 columns
    b"\x03\x01\x00\x01\x08\x00\xff\x03"  #   3 1.0.1.8.0.255 3
    b"\x03\x01\x00\x02\x08\x00\xff\x03"  #   3 1.0.2.8.0.255 3
    b"\x01\x00\x5e\x5b\x07\xff\x00"  # 1.0.94.91.7.255, 0 columns
    b"\x00\x00\x63\x62\x00\xff\x02"  # 0.0.99.98.0.255, 2 columns
    b"\x08\x00\x00\x01\x00\x00\xff\x02"  #   8 0.0.1.0.0.255 2
    b"\x01\x00\x00\x60\x0b\x00\xff\x02"  #   1 0.0.96.11.0.255 2
    b"\x00\x00\x63\x62\x01\xff\x02"  # 0.0.99.98.1.255, 2 columns
    b"\x08\x00\x00\x01\x00\x00\xff\x02"  #   8 0.0.1.0.0.255 2
    b"\x01\x00\x00\x60\x0b\x01\xff\x02"  #   1 0.0.96.11.1.255 2
    b"\x00\x00\x63\x62\x02\xff\x02"  # 0.0.99.98.2.255, 2 columns
    b"\x08\x00\x00\x01\x00\x00\xff\x02"  #   8 0.0.1.0.0.255 2
    b"\x01\x00\x00\x60\x0b\x02\xff\x02"  #   1 0.0.96.11.2.255 2
    b"\x00\x00\x63\x62\x03\xff\x02"  # 0.0.99.98.3.255, 2 columns
    b"\x08\x00\x00\x01\x00\x00\xff\x02"  #   8 0.0.1.0.0.255 2
    b"\x01\x00\x00\x60\x0b\x03\xff\x02"  #   1 0.0.96.11.3.255 2
    b"\x00\x00\x63\x62\x04\xff\x02"  # 0.0.99.98.4.255, 2 columns
    b"\x08\x00\x00\x01\x00\x00\xff\x02"  #   8 0.0.1.0.0.255 2
    b"\x01\x00\x00\x60\x0b\x04\xff\x02"  #   1 0.0.96.11.4.255 2
    b"\x00\x00\x63\x62\x05\xff\x02"  # 0.0.99.98.5.255, 2 columns
    b"\x08\x00\x00\x01\x00\x00\xff\x02"  #   8 0.0.1.0.0.255 2
    b"\x01\x00\x00\x60\x0b\x05\xff\x02"  #   1 0.0.96.11.5.255 2
    b"\x00\x00\x63\x62\x06\xff\x02"  # 0.0.99.98.6.255, 2 columns
    b"\x08\x00\x00\x01\x00\x00\xff\x02"  #   8 0.0.1.0.0.255 2
    b"\x01\x00\x00\x60\x0b\x06\xff\x02"  #   1 0.0.96.11.6.255 2
)


_OBJ = 10
_REG = 9


def find(name):
    """Offset of the object's record in _OBJECTS, or -1."""
    t = _OBJECTS
    for i in range(0, len(t), _OBJ):
        if t[i:i + 6] == name:
            return i
    return -1


def entries():
    """(logical name, class, version, level, kind) of every object, one at a time."""
    t = _OBJECTS
    for i in range(0, len(t), _OBJ):
        yield t[i:i + 6], t[i + 6], t[i + 7], t[i + 8], t[i + 9]


def register(name):
    """(A-XDR type, scaler, unit) of a register."""
    t = _REGISTERS
    for i in range(0, len(t), _REG):
        if t[i:i + 6] == name:
            s = t[i + 7]
            return t[i + 6], s - 256 if s > 127 else s, t[i + 8]
    raise Refused(UNDEFINED)


def columns(name):
    """(offset of the first column, count) of a profile's capture objects in _PROFILES."""
    t = _PROFILES
    i = 0
    while i < len(t):
        n = t[i + 6]
        if t[i:i + 6] == name:
            return i + 7, n
        i += 7 + 8 * n
    raise Refused(UNDEFINED)


def column(at, k):
    """(class, logical name, attribute) of column k of the profile whose columns start at `at`."""
    p = at + 8 * k
    t = _PROFILES
    return t[p], t[p + 1:p + 7], t[p + 7]


def _writable(kind, attr):
    return kind == K_CLOCK and attr == 2


class Model:
    """Answers GET/SET/ACTION for the table above from the meter `src`."""

    def __init__(self, src):
        self.src = src

    def _lookup(self, level, cls, name):
        """The object's kind; refuses an unknown object, another class, or one outside the
        association's list."""
        i = find(name)
        if i < 0:
            raise Refused(UNDEFINED)
        if _OBJECTS[i + 6] != cls:
            raise Refused(CLASS_INCONSISTENT)
        if level < _OBJECTS[i + 8]:
            raise Refused(DENIED)  # the object is not in this association's list
        return _OBJECTS[i + 9]

    # -- GET ---------------------------------------------------------------------------------
    def get(self, level, cls, name, attr, sel, w):
        kind = self._lookup(level, cls, name)
        if attr < 1 or attr > _ATTRIBUTES[kind]:
            raise Refused(UNDEFINED)
        if kind == K_ASSOC and attr == 7:
            raise Refused(DENIED)  # the secret is never read
        if sel is not None and not (kind == K_PROFILE and attr == 2):
            raise Refused(SCOPE_VIOLATED)
        if attr == 1:
            return _one(w.octets, name)
        if kind == K_PROFILE:
            return self._profile(name, attr, sel, w)
        if kind == K_ASSOC:
            return self._association(level, attr, w)
        return _one(self._value, kind, name, attr, w)

    def _value(self, kind, name, attr, w):
        s = self.src
        if kind == K_REG:
            t, scaler, unit = register(name)
            if attr == 3:
                w.scaler_unit(scaler, unit)
            else:
                w.integer(t, self._register(name))
        elif kind == K_DATA:
            self._data(name, w)
        elif kind == K_CLOCK:
            self._clock(attr, w)
        elif kind == K_DISCONNECT:
            closed = s.relay_closed()
            if attr == 2:
                w.boolean(closed)
            elif attr == 3:
                w.integer(axdr.ENUM, 1 if closed else 0)
            else:
                w.integer(axdr.ENUM, 2)  # control mode 2: remote/local disconnect, remote reconnect
        elif kind == K_LIMITER:
            self._limiter(attr, w)

    def _register(self, name):
        s = self.src
        if name == IMPORT:
            return s.import_mwh() // 1000
        if name == EXPORT:
            return s.export_mwh() // 1000
        if name in (BLOCK_IMPORT, BLOCK_EXPORT, AVG_VOLTAGE):
            imp, exp, volts = s.block_now()
            return imp // 1000 if name == BLOCK_IMPORT else (exp // 1000 if name == BLOCK_EXPORT else volts)
        m = s.measurements()
        if name == VOLTAGE:
            return m.volts_cv
        if name == CURRENT:
            return m.current_ma
        if name == POWER:
            return m.power_w
        if name == PF:
            return m.pf_milli
        return m.freq_chz

    def _data(self, name, w):
        s = self.src
        if name == SERIAL:
            w.visible(s.serial())
        elif name == MAKER:
            w.visible(s.manufacturer())
        elif name == FIRMWARE:
            w.visible(s.firmware())
        elif name == METER_TYPE:
            w.integer(axdr.UINT8, 5)  # single phase, two wire (IS 15959)
        elif name == CATEGORY:
            w.visible("C1")
        elif name == RATING:
            w.visible(s.rating())
        elif name == CAPTURE_PERIOD:
            w.integer(axdr.UINT32, s.capture_period_s())
        elif name == METERING_MODE:
            w.integer(axdr.UINT8, 0)  # import billed (export metered, not credited)
        elif name == PAYMENT_MODE:
            w.integer(axdr.UINT8, 1)  # prepaid
        elif name == LAST_RECHARGE:
            w.integer(axdr.UINT32, s.last_recharge()[0])
        elif name == LAST_RECHARGE_TIME:
            t = s.last_recharge()[1]
            w.datetime(t if t is not None and t >= 0 else None)
        elif name == TOTAL_AT_RECHARGE:
            w.integer(axdr.INT32, s.balance_at_recharge())
        elif name == BALANCE:
            w.integer(axdr.INT32, s.balance_paise())
        elif name == BALANCE_TIME:
            w.datetime(s.now_s())
        elif name == ARREARS:
            w.integer(axdr.UINT32, s.arrears_paise())
        else:
            g, profile = event_group(name)
            if g is None or profile:
                raise Refused(UNAVAILABLE)
            w.integer(axdr.UINT16, s.last_event_id(g))

    def _clock(self, attr, w):
        s = self.src
        if attr == 2:
            now = s.now_s()
            w.datetime(now, axdr.NOT_SPECIFIED_DEVIATION, 0 if s.clock_trusted() else 0x01)
        elif attr == 3:
            w.integer(axdr.INT16, 330)  # IST, minutes from UTC (docs/dlms.md)
        elif attr == 4:
            w.integer(axdr.UINT8, 0 if s.clock_trusted() else 0x01)
        elif attr in (5, 6):
            w.datetime(None)
        elif attr == 7:
            w.integer(axdr.INT8, 0)
        elif attr == 8:
            w.boolean(False)  # India keeps no daylight saving
        else:
            w.integer(axdr.ENUM, 1)  # crystal

    def _limiter(self, attr, w):
        s = self.src
        sanctioned, limit, trip_s, retry_s = s.limiter()
        if attr == 2:
            w.structure(3)
            w.integer(axdr.UINT16, 3)
            w.octets(POWER)
            w.integer(axdr.INT8, 2)
        elif attr == 3:
            w.integer(axdr.INT32, limit)
        elif attr in (4, 5):
            w.integer(axdr.INT32, sanctioned)
        elif attr == 6:
            w.integer(axdr.UINT32, trip_s)
        elif attr == 7:
            w.integer(axdr.UINT32, retry_s)
        elif attr == 8:
            w.structure(3)
            w.integer(axdr.UINT16, 0)
            w.datetime(None)
            w.integer(axdr.UINT32, 0)
        elif attr == 9:
            w.array(0)
        elif attr == 10:
            w.boolean(False)
        else:
            w.structure(2)
            for _ in range(2):
                w.structure(2)
                w.octets(bytes(6))
                w.integer(axdr.UINT16, 0)

    # -- association object --------------------------------------------------------------------
    def _association(self, level, attr, w):
        if attr == 2:
            return self._object_list(level, w)
        return _one(self._assoc_attr, level, attr, w)

    def _assoc_attr(self, level, attr, w):
        if attr == 3:
            w.structure(2)
            w.integer(axdr.INT8, (0x10, 0x20, 0x30)[level])
            w.integer(axdr.UINT16, 1)
        elif attr == 4:
            w.octets(b"\x60\x85\x74\x05\x08\x01\x01")
        elif attr == 5:
            w.structure(6)
            w.byte(axdr.BIT_STRING)
            w.byte(24)
            w.uint(CONFORMANCE, 3)
            w.integer(axdr.UINT16, PDU_SIZE)
            w.integer(axdr.UINT16, PDU_SIZE)
            w.integer(axdr.UINT8, 6)
            w.integer(axdr.INT8, 0)
            w.octets(b"")
        elif attr == 6:
            w.octets(b"\x60\x85\x74\x05\x08\x02" + bytes(((0, 1, 5)[level],)))
        elif attr == 8:
            w.integer(axdr.ENUM, 2)  # associated
        else:
            w.octets(bytes(6))  # no security setup object

    def _object_list(self, level, w):
        """Attribute 2: the objects this association may use, with its access rights."""
        count = 0
        for e in entries():
            if level >= e[3]:
                count += 1
        w.array(count)
        yield
        for name, cls, ver, lvl, kind in entries():
            if level < lvl:
                continue
            w.structure(4)
            w.integer(axdr.UINT16, cls)
            w.integer(axdr.UINT8, ver)
            w.octets(name)
            w.structure(2)
            n = _ATTRIBUTES[kind]
            w.array(n)
            for a in range(1, n + 1):
                w.structure(3)
                w.integer(axdr.INT8, a)
                mode = 1
                if kind == K_ASSOC and a == 7:
                    mode = 0
                elif level == UTILITY and _writable(kind, a):
                    mode = 3
                w.integer(axdr.ENUM, mode)
                w.null()
            m = _METHODS[kind]
            w.array(m)
            for a in range(1, m + 1):
                w.structure(2)
                w.integer(axdr.INT8, a)
                w.integer(axdr.ENUM, 1 if (kind == K_ASSOC or level == UTILITY) else 0)
            yield

    # -- profiles ----------------------------------------------------------------------------
    def _profile(self, name, attr, sel, w):
        cols = columns(name)
        if attr == 3:
            return self._captures(cols, w)
        if attr == 2:
            return self._buffer(name, cols, sel, w)
        return _one(self._profile_attr, name, attr, w)

    def _profile_attr(self, name, attr, w):
        if attr == 4:
            w.integer(axdr.UINT32, self.src.capture_period_s() if name == BLOCK_LOAD else 0)
        elif attr == 5:
            w.integer(axdr.ENUM, 1)  # FIFO
        elif attr == 6:
            w.structure(4)
            w.integer(axdr.UINT16, 0)
            w.octets(bytes(6))
            w.integer(axdr.INT8, 0)
            w.integer(axdr.UINT16, 0)
        elif attr in (7, 8):
            w.integer(axdr.UINT32, self._entries(name) if attr == 7 else self._capacity(name))

    def _captures(self, cols, w):
        at, n = cols
        w.array(n)
        for k in range(n):
            c = column(at, k)
            w.structure(4)
            w.integer(axdr.UINT16, c[0])
            w.octets(c[1])
            w.integer(axdr.INT8, c[2])
            w.integer(axdr.UINT16, 0)
        yield

    def _entries(self, name):
        s = self.src
        if name == BLOCK_LOAD:
            return s.block_count()
        if name == DAILY:
            return len(s.daily())
        if name == BILLING:
            return len(s.billing())
        g, profile = event_group(name)
        if g is not None and profile:
            return s.event_count(g)
        return 1

    def _capacity(self, name):
        s = self.src
        if name == BLOCK_LOAD:
            return s.block_capacity()
        if name == DAILY:
            return s.daily_capacity()
        if name == BILLING:
            return s.billing_capacity()
        if event_group(name)[1]:
            return s.event_capacity()
        return 1

    def _buffer(self, name, cols, sel, w):
        """Attribute 2 of a profile: rows oldest first, filtered by the selective access."""
        first, last, t_from, t_to, c_from, c_to = 1, 0, None, None, 1, cols[1]
        if sel is not None:
            sid, arg = sel
            try:
                if sid == 1:  # range descriptor: restricting object, from, to, selected values
                    t_from = axdr.datetime_seconds(arg[1])
                    t_to = axdr.datetime_seconds(arg[2])
                    if t_from is None or t_to is None or arg[0][1] != CLOCK:
                        raise Refused(OTHER)
                    if arg[3]:
                        c_from, c_to = _columns(cols, arg[3])
                elif sid == 2:  # entry descriptor: from entry, to entry, from value, to value
                    first, last = arg[0], arg[1]
                    c_from = arg[2] if arg[2] else 1
                    c_to = arg[3] if arg[3] else cols[1]
                    if first < 1 or (last and last < first) or c_from > c_to or c_to > cols[1]:
                        raise Refused(OTHER)
                else:
                    raise Refused(OTHER)
            except (TypeError, IndexError):
                raise Refused(TYPE_UNMATCHED)
        rows = self._rows(name)
        count = self._entries(name) if t_from is None else None
        return self._emit(rows, count, first, last, t_from, t_to, c_from, c_to, w)

    def _emit(self, rows, count, first, last, t_from, t_to, c_from, c_to, w):
        ncol = c_to - c_from + 1
        if count is not None:
            # entry selection: the count is known before the rows
            n = count
            if last and last < n:
                n = last
            n = n - first + 1
            if n < 0:
                n = 0
            w.array(n)
            yield
            k = 0
            sent = 0
            for row in rows:
                k += 1
                if k < first:
                    continue
                if sent >= n:
                    break
                self._row(row, c_from, ncol, w)
                sent += 1
                yield
            while sent < n:  # the source shrank while we read: keep the promised count
                w.structure(0)
                sent += 1
                yield
            return
        # date range: count the rows first (one pass), then send them (a second pass)
        n = 0
        for row in rows:
            t = row[0]
            if t is not None and t_from <= t <= t_to:
                n += 1
        w.array(n)
        yield
        sent = 0
        for row in self._rows_again():
            t = row[0]
            if t is not None and t_from <= t <= t_to and sent < n:
                self._row(row, c_from, ncol, w)
                sent += 1
                yield
        while sent < n:
            w.structure(0)
            sent += 1
            yield

    def _row(self, row, c_from, ncol, w):
        w.structure(ncol)
        for c in range(c_from - 1, c_from - 1 + ncol):
            _cell(row[c], row[-1][c], w)

    def _rows(self, name):
        self._again = name
        return self._row_source(name)

    def _rows_again(self):
        return self._row_source(self._again)

    def _row_source(self, name):
        """Rows as tuples: values, then last a tuple of each column's A-XDR type (0: date-time;
        2: a structure of scaler and unit)."""
        s = self.src
        if name == NAMEPLATE:
            yield (s.serial(), s.manufacturer(), s.firmware(), 5, "C1", s.rating(),
                   (axdr.VISIBLE_STRING, axdr.VISIBLE_STRING, axdr.VISIBLE_STRING, axdr.UINT8,
                    axdr.VISIBLE_STRING, axdr.VISIBLE_STRING))
        elif name == INSTANT:
            m = s.measurements()
            yield (s.now_s(), m.volts_cv, m.current_ma, m.power_w, m.pf_milli, m.freq_chz,
                   s.import_mwh() // 1000, s.export_mwh() // 1000,
                   (0, axdr.UINT16, axdr.UINT32, axdr.INT32, axdr.INT16, axdr.UINT16, axdr.UINT32,
                    axdr.UINT32))
        elif name == BLOCK_LOAD:
            types = (0, axdr.UINT32, axdr.UINT32, axdr.UINT16)
            for t, imp, exp, volts in s.block_rows():
                yield (t, imp // 1000, exp // 1000, volts, types)
        elif name == DAILY:
            types = (0, axdr.UINT32, axdr.UINT32, axdr.INT32)
            for t, imp, exp, bal in s.daily_rows():
                yield (t, imp // 1000, exp // 1000, bal, types)
        elif name == BILLING:
            types = (0, axdr.UINT32, axdr.UINT32)
            for t, imp, exp in s.billing_rows():
                yield (t, imp // 1000, exp // 1000, types)
        elif event_group(name)[1]:
            types = (0, axdr.UINT16)
            for t, eid in s.event_rows(name[4]):
                yield (t, eid, types)
        else:  # a scaler profile: the scaler_unit of each column's register
            at, n = columns(name)
            row = []
            for k in range(n):
                row.append(register(column(at, k)[1])[1:])
            row.append((2,) * n)
            yield tuple(row)

    # -- SET / ACTION --------------------------------------------------------------------------
    def set(self, level, cls, name, attr, value):
        kind = self._lookup(level, cls, name)
        if attr < 1 or attr > _ATTRIBUTES[kind]:
            raise Refused(UNDEFINED)
        if not _writable(kind, attr) or level < UTILITY:
            raise Refused(DENIED)
        secs = axdr.datetime_seconds(value)
        if secs is None:
            raise Refused(TYPE_UNMATCHED)
        self.src.set_clock(secs)

    def action(self, level, cls, name, method, param):
        kind = self._lookup(level, cls, name)
        if method < 1 or method > _METHODS[kind]:
            raise Refused(UNDEFINED)
        if level < UTILITY:
            raise Refused(DENIED)
        if kind == K_DISCONNECT:
            if param != 0:
                raise Refused(TYPE_UNMATCHED)
            self.src.remote_relay(method == 1)
            return
        raise Refused(DENIED)


def _columns(cols, selected):
    """A contiguous column range from a range descriptor's selected values (capture objects)."""
    idx = []
    at, n = cols
    for s in selected:
        for k in range(n):
            c = column(at, k)
            if c[1] == s[1] and c[2] == s[2]:
                idx.append(k + 1)
    if not idx:
        raise Refused(OTHER)
    lo, hi = min(idx), max(idx)
    if hi - lo + 1 != len(idx):
        raise Refused(OTHER)
    return lo, hi


def _cell(v, t, w):
    if t == 0:
        w.datetime(v)
    elif t == 2:
        w.scaler_unit(v[0], v[1])
    elif t == axdr.VISIBLE_STRING:
        w.visible(v)
    else:
        w.integer(t, v)


def _one(fn, *args):
    """A value that is one chunk: a generator that writes it once."""
    fn(*args)
    yield

