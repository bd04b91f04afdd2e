"""FlashChip (boards/sim/models/flash.py) NOR semantics and power cuts; Store and Log on real
littlefs (vfs.VfsLfs2) with cuts at every flash operation of a save and an append.

The chip-model tests run on CPython and MicroPython; the littlefs ones need `vfs.VfsLfs2` and so
are skipped on CPython, saying so, and run on MicroPython (tests/test_unit_on_micropython.py; and
tests/test_powerloss.py runs the full campaign there).
"""
import os

import _sim  # noqa: F401  (boards/sim on the path: the chip model)
from _check import raises, skip

from models.flash import FlashChip, PowerCut  # noqa: E402

import store  # noqa: E402

try:
    import vfs

    HAVE_LFS = hasattr(vfs, "VfsLfs2")
except ImportError:
    vfs = None
    HAVE_LFS = False

BS = 4096
NO_LFS = "needs MicroPython's vfs.VfsLfs2 (littlefs): runs under tests/test_unit_on_micropython.py"


def _block(chip, b):
    return chip.image(b)


def _count(data, value):
    n = 0
    for x in data:
        if x == value:
            n += 1
    return n


# -- the chip model ------------------------------------------------------------------------
def test_geometry_and_ioctl():
    chip = FlashChip(block_count=8)
    assert chip.ioctl(4, 0) == 8
    assert chip.ioctl(5, 0) == BS
    assert chip.ioctl(1, 0) == 0 and chip.ioctl(3, 0) == 0 and chip.ioctl(2, 0) == 0
    big = FlashChip()  # default part: 512 x 4 KiB = 2 MiB, sparse in memory
    assert big.ioctl(4, 0) * big.ioctl(5, 0) == 2 * 1024 * 1024


def test_erased_reads_ff_and_program_ands():
    chip = FlashChip(block_count=4)
    buf = bytearray(16)
    chip.readblocks(2, buf, 100)
    assert buf == b"\xff" * 16
    chip.writeblocks(2, b"\x0f\xf0\xaa", 100)
    chip.writeblocks(2, b"\x3c\x3c\xff", 100)  # programming can only clear bits
    chip.readblocks(2, buf, 100)
    assert buf[:4] == b"\x0c\x30\xaa\xff"
    assert chip.overprograms == 1  # 0x3c over 0x0f wanted to set bits
    assert chip.programs == 2 and chip.program_bytes == 6 and chip.erases == 0
    assert chip.ioctl(6, 2) == 0
    chip.readblocks(2, buf, 100)
    assert buf == b"\xff" * 16
    c = chip.counts()
    assert c["erases"] == 1 and c["ops"] == 3 and c["erase_bytes"] == BS
    assert c["reads"] == 3 and c["read_bytes"] == 48


def test_simple_protocol_write_erases_whole_blocks():
    chip = FlashChip(block_count=4)
    chip.writeblocks(1, b"\x00" * 8, 0)
    chip.writeblocks(1, b"\x5a" * (2 * BS))  # no offset: erase + program each block
    assert _block(chip, 1) == b"\x5a" * BS and _block(chip, 2) == b"\x5a" * BS
    assert chip.erases == 2 and chip.overprograms == 0
    buf = bytearray(2 * BS)
    chip.readblocks(1, buf)
    assert buf == b"\x5a" * (2 * BS)


def test_out_of_range_rejected():
    chip = FlashChip(block_count=4)
    with raises(ValueError):
        chip.writeblocks(4, b"\x00", 0)
    with raises(ValueError):
        chip.readblocks(0, bytearray(8), BS - 4)


def test_power_cut_is_not_an_exception():
    assert issubclass(PowerCut, BaseException) and not issubclass(PowerCut, Exception)


def test_clean_cut_writes_nothing_and_chip_dies():
    chip = FlashChip(block_count=4)
    chip.arm(after_ops=2)
    chip.writeblocks(0, b"\x01\x02", 0)  # op 1
    try:
        chip.writeblocks(0, b"\x00\x00\x00\x00", 8)  # op 2: cut
        assert False, "no cut"
    except PowerCut:
        pass
    assert chip.dead
    assert chip.writeblocks(0, b"\x00", 20) == -5  # dead: EIO, cells untouched
    assert chip.readblocks(0, bytearray(4), 0) == -5
    assert chip.ioctl(6, 0) == -5
    assert chip.dead_accesses == 3
    again = chip.power_cycle()
    assert not again.dead and again.ops == 0
    assert _block(again, 0)[:12] == b"\x01\x02" + b"\xff" * 10


def test_torn_program_prefix_is_deterministic():
    results = []
    for _ in range(2):
        chip = FlashChip(block_count=2)
        chip.arm(after_ops=1, tear=True, seed=7)
        try:
            chip.writeblocks(1, b"\x00" * 128, 0)
        except PowerCut:
            pass
        results.append(_block(chip, 1)[:128])
    assert results[0] == results[1]
    k = _count(results[0], 0)
    assert 0 <= k < 128
    assert results[0] == b"\x00" * k + b"\xff" * (128 - k)
    lengths = set()
    for seed in range(20):
        chip = FlashChip(block_count=2)
        chip.arm(after_ops=1, tear=True, seed=seed)
        try:
            chip.writeblocks(0, b"\x00" * 128, 0)
        except PowerCut:
            pass
        lengths.add(_count(_block(chip, 0)[:128], 0))
    assert len(lengths) > 5  # seeds give different tears


def test_torn_erase_leaves_prefix_erased():
    chip = FlashChip(block_count=2)
    chip.writeblocks(0, b"\x00" * BS, 0)
    chip.arm(after_ops=1, tear=True, seed=3)
    try:
        chip.ioctl(6, 0)
        assert False, "no cut"
    except PowerCut:
        pass
    blk = _block(chip.power_cycle(), 0)
    k = _count(blk, 0xFF)
    assert 0 <= k < BS and blk == b"\xff" * k + b"\x00" * (BS - k)


def test_disarm_and_wipe():
    chip = FlashChip(block_count=2)
    chip.arm(after_ops=1)
    assert chip.armed
    chip.disarm()
    chip.writeblocks(0, b"\x00", 0)
    assert not chip.dead and chip.ops == 1
    chip.wipe()
    assert _block(chip, 0) == b"\xff" * BS and chip.ops == 1


def test_file_backed_chip_persists():
    path = "/tmp/flash_test_%s.bin" % store.crc32(os.urandom(8))
    try:
        chip = FlashChip(path, block_count=4)
        assert os.stat(path)[6] == 4 * BS
        assert _block(chip, 3) == b"\xff" * BS
        chip.writeblocks(3, b"meter", 10)
        chip.close()
        chip2 = FlashChip(path, block_count=4)  # the simulator restarted
        assert _block(chip2, 3)[10:15] == b"meter"
        chip2.ioctl(6, 3)
        chip2.close()
        assert _block(FlashChip(path, block_count=4), 3) == b"\xff" * BS
        with raises(ValueError):
            FlashChip(path, block_count=8)  # wrong geometry for this image
    finally:
        os.remove(path)


# -- store.py on littlefs (MicroPython only) ----------------------------------------------
MNT = "/flt"


def _fresh(blocks=24):
    chip = FlashChip(block_count=blocks)
    vfs.VfsLfs2.mkfs(chip)
    return chip


def _mount(chip):
    vfs.mount(vfs.VfsLfs2(chip), MNT)


def _umount():
    try:
        vfs.umount(MNT)
    except OSError:
        pass


def test_store_on_littlefs_survives_remount():
    if not HAVE_LFS:
        skip(NO_LFS)
    chip = _fresh()
    _mount(chip)
    try:
        st = store.Store(MNT + "/data")
        st.save("reg", {"imp": 1, "pad": "x" * 380})
        st.save("reg", {"imp": 2, "pad": "x" * 380})
        log = store.Log(st, "ev", 4, seg_bytes=128)
        for i in range(9):
            log.append({"i": i})
    finally:
        _umount()
    chip = chip.power_cycle()
    _mount(chip)
    try:
        st = store.Store(MNT + "/data")
        assert st.load("reg")["imp"] == 2
        assert store.Log(st, "ev", 4, seg_bytes=128).records() == [{"i": i} for i in range(5, 9)]
        assert st.discarded() == []
        assert chip.overprograms == 0
    finally:
        _umount()


def _cut_every_op(action, check, prepare, tear):
    """Run `action` with a cut at op 1, 2, ... until it completes; check what survived."""
    n = 0
    while True:
        n += 1
        chip = _fresh()
        _mount(chip)
        try:
            ctx = prepare()
            chip.reset_counts()
            chip.arm(after_ops=n, tear=tear, seed=n)
            fired = False
            try:
                action(ctx)
            except PowerCut:
                fired = True
        finally:
            _umount()
        chip = chip.power_cycle()
        _mount(chip)
        try:
            check(fired, n)
        finally:
            _umount()
        if not fired:
            return n


def test_cut_at_every_op_of_a_save():
    if not HAVE_LFS:
        skip(NO_LFS)
    old = {"paise": 1000, "pad": "o" * 350}
    new = {"paise": 2500, "pad": "n" * 350}

    def prepare():
        st = store.Store(MNT + "/d")
        st.save("acct", {"paise": 1, "pad": ""})
        st.save("acct", old)
        return st

    def action(st):
        st.save("acct", new)

    def check(fired, n):
        got = store.Store(MNT + "/d").load("acct")
        if fired:
            assert got in (old, new), "replay: N=%d" % n
        else:
            assert got == new

    for tear in (False, True):
        ops = _cut_every_op(action, check, prepare, tear)
        assert ops > 3  # the save took several flash operations, every one was cut


def test_cut_at_every_op_of_an_append():
    if not HAVE_LFS:
        skip(NO_LFS)
    per_seg = 100 // (8 + len(store._encode({"i": 10})))

    def prepare():
        log = store.Log(MNT + "/d", "ev", per_seg, seg_bytes=100)
        for i in range(2 * per_seg):  # two full segments: the next append opens a third
            log.append({"i": 10 + i})  # and then deletes the oldest
        return log

    def action(log):
        log.append({"i": 99})

    def check(fired, n):
        got = store.Log(MNT + "/d", "ev", per_seg, seg_bytes=100).records()
        before = [{"i": 10 + i} for i in range(per_seg, 2 * per_seg)]
        after = before[1:] + [{"i": 99}]
        if fired:
            assert got in (before, after), "replay: N=%d got %r" % (n, got)
        else:
            assert got == after
        assert len(os.listdir(MNT + "/d")) <= 3

    for tear in (False, True):
        assert _cut_every_op(action, check, prepare, tear) > 2
