"""The power-fail journal (firmware/store.py PageJournal) on the simulated NOR flash's spare area,
with the chip's datasheet timing: a write is one page program into a sector erased in advance."""
from _sim import world  # noqa: F401  (boards/sim first on the path)

from models.flash import FlashChip, PowerCut, WORST  # noqa: E402

from store import PageJournal  # noqa: E402
from _check import raises  # noqa: E402
from _clock import Clock  # noqa: E402

SECTORS = 4


def chip(timing=None, clock=None):
    return FlashChip(block_count=2, spare_blocks=SECTORS, timing=timing, wait_ms=clock and clock.sleep_ms)


def rec(i):
    return {"n": 7, "energy": {"import_mwh": 1000 * i, "export_mwh": 0, "rem_import": 3, "rem_export": 0,
                               "ratio": [125, 4], "counter": None}}


def test_a_write_is_one_page_program_within_the_worst_case_time():
    clock = Clock()
    c = chip(WORST, clock)
    j = PageJournal(c.spare())
    j.prepare()
    c.reset_counts()
    clock.ms = 0
    assert j.write(rec(1))
    assert c.programs == 1 and c.erases == 0
    assert clock.ms <= 3  # tPP max 3 ms: fits the 40 ms hold-up many times over
    assert j.last() == rec(1)


def test_records_survive_a_restart_and_the_newest_wins():
    c = chip()
    j = PageJournal(c.spare())
    for i in range(1, 40):
        assert j.write(rec(i))
        j.prepare()
    c2 = c.power_cycle()
    j2 = PageJournal(c2.spare())
    assert j2.last() == rec(39)
    assert j2.write(rec(40)) and PageJournal(c2.spare()).last() == rec(40)


def test_write_never_erases_and_says_so_when_nothing_is_erased():
    c = chip()
    j = PageJournal(c.spare())
    j.prepare()
    for i in range(16 * 2):  # the current sector and the one erased ahead
        assert j.write(rec(i))
    erases = c.erases
    assert not j.ready()
    assert j.write(rec(99)) is False
    assert c.erases == erases
    j.prepare()  # normal running again: the next sector is erased
    assert j.ready() and j.write(rec(100))
    assert j.last() == rec(100)


def test_wear_goes_round_the_area():
    c = chip()
    j = PageJournal(c.spare())
    for i in range(16 * SECTORS * 3):
        j.write(rec(i))
        j.prepare()
    assert j.erases <= 3 * SECTORS + 2  # one erase per 16 records, spread over every sector
    assert j.last() == rec(16 * SECTORS * 3 - 1)


def test_a_write_torn_by_a_power_cut_leaves_the_previous_record():
    for seed in range(1, 12):
        c = chip()
        j = PageJournal(c.spare())
        j.prepare()
        for i in range(5):
            j.write(rec(i))
        c.arm(1, tear=True, seed=seed)
        with raises(PowerCut):
            j.write(rec(5))
        c2 = c.power_cycle()
        j2 = PageJournal(c2.spare())
        assert j2.last() == rec(4)
        assert j2.write(rec(6)) and PageJournal(c2.spare()).last() == rec(6)


def test_a_write_cut_by_the_brown_out_while_the_chip_is_busy():
    class BrownOut(BaseException):
        pass

    def die(ms):
        raise BrownOut()

    c = chip()
    j = PageJournal(c.spare())
    j.prepare()
    j.write(rec(1))
    c.set_timing(WORST, die)
    with raises(BrownOut):
        j.write(rec(2))
    assert PageJournal(c.power_cycle().spare()).last() == rec(1)


def test_an_area_too_small_is_refused():
    with raises(ValueError):
        PageJournal(FlashChip(block_count=2, spare_blocks=2).spare())
