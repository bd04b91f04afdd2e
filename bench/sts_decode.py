"""How long the meter takes to decode an STS token (figures only, no pass/fail).

    MICROPYPATH=firmware .venv/bin/micropython -X heapsize=512K bench/sts_decode.py
    PYTHONPATH=firmware .venv/bin/python bench/sts_decode.py     (CPython, for comparison)
"""
import gc
import sys
import time

import sts

try:
    ticks_us = time.ticks_us
    ticks_diff = time.ticks_diff
except AttributeError:  # CPython
    def ticks_us():
        return int(time.perf_counter() * 1000000)

    def ticks_diff(a, b):
        return a - b


def mem_free():
    try:
        return gc.mem_free()
    except AttributeError:
        return None


KEY = sts.DecoderKey.from_hex("e653341f9d5bf36f", base_date=1993)
TOKENS = (
    ("credit", "23716100501183194197"),
    ("credit, large amount", "42222423067848970276"),
    ("clear credit", "29511990995826640868"),
    ("key change 1", "51638423060042734509"),
    ("test (not encrypted)", "56493153725450313471"),
    ("wrong key / typo", "23716100501183194198"),
)
N = 200


def main():
    print("STS decode on %s" % sys.implementation.name)
    gc.collect()
    t0 = ticks_us()
    sts.decode(TOKENS[0][1], KEY)  # the decipher table is a constant: nothing to build
    print("first decode (tables are constants):  %d us" % ticks_diff(ticks_us(), t0))

    t0 = ticks_us()
    for _ in range(N):
        sts.DecoderKey(KEY.key_bytes)
    print("DecoderKey():                         %d us" % (ticks_diff(ticks_us(), t0) // N))

    for name, text in TOKENS:
        number = sts.parse_digits(text)
        gc.collect()
        before = mem_free()
        t0 = ticks_us()
        for _ in range(N):
            sts.decode(number, KEY, strict=False)
        us = ticks_diff(ticks_us(), t0) / N
        after = mem_free()
        alloc = ""
        if before is not None and after is not None and after <= before:
            alloc = ", ~%d bytes allocated per decode" % ((before - after) // N)
        print("%-22s %8.1f us per decode%s" % (name + ":", us, alloc))

    t0 = ticks_us()
    for _ in range(N):
        sts.parse_digits("2371 6100 5011 8319 4197")
    print("parse_digits:          %8.1f us" % (ticks_diff(ticks_us(), t0) / N))


main()
