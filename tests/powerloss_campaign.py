"""Power-loss campaign for firmware/store.py on real littlefs (MicroPython VfsLfs2) and FlashChip.

For every cut point N = 1 .. (program/erase operations of the workload): format a fresh chip,
mount, run the workload (Store.save / Log.append of known values), cut the power at the Nth flash
operation, remount what survived (a fresh chip object over the same cells) and check:
  - every record loads as the last acknowledged value or the one in flight, nothing else;
  - every log reads as what was acknowledged plus at most the record in flight, trimmed to its
    capacity, oldest first (last(2) agrees);
  - the filesystem mounts, and after recovery saves and appends work and read back exactly.
Each cut point runs three ways: a clean cut (nothing of the cut operation reaches the cells), a
torn cut (a prefix does; length drawn from the seed) and a double fault (a clean or torn cut at N,
then a second cut at M during the writes that follow the recovery, then recover and check again).

A failure prints `replay: N=.. tear=.. seed=.. M=..`; rerun exactly that case, verbosely, with
  micropython -X heapsize=512K tests/powerloss_campaign.py --replay N TEAR SEED M
usage (MICROPYPATH must hold firmware/ and boards/sim/):
  micropython -X heapsize=512K tests/powerloss_campaign.py [--quick] [--rounds R]
The last line is `campaign: ...` with the figures (parsed by tests/test_powerloss.py).
"""
import gc
import sys
import time

import vfs

import store
from models.flash import FlashChip, PowerCut

BLOCKS = 32  # 128 KiB chip: fits the 512K heap, and the block allocator wraps round it
MOUNT = "/pl"
ROOT = MOUNT + "/data"
RECORDS = ("reg", "bal")
LOGS = {"ev": (5, 200), "bill": (3, 600)}  # name: (capacity, seg_bytes): rotate and drop often
POST_STEPS = 6  # steps written after a recovery (the second cut of a double fault lands there)


def _ms():
    try:
        return time.ticks_ms()
    except AttributeError:
        return int(time.time() * 1000)


def workload(rounds):
    """The steps: ("save", name, value) / ("append", log, record); deterministic."""
    steps = []
    for i in range(rounds):
        reg = {"i": i, "imp_mWh": 1000003 * i, "exp_mWh": 7 * i, "pad": "r%02d" % i * 90}
        steps.append(("save", "reg", reg))  # ~400 bytes: a file with its own data block
        steps.append(("append", "ev", {"t": 100 + i, "code": "E%d" % (i % 4), "v": i * i}))
        steps.append(("save", "bal", {"i": i, "paise": 50000 - 137 * i}))  # small: inline file
        if i % 3 == 2:
            steps.append(("append", "bill", {"m": i, "kwh": i * 11, "pad": "b" * 200}))
    return steps


def post_steps(tag):
    steps = []
    for k in range(POST_STEPS // 2):
        steps.append(("save", RECORDS[k % 2], {"after": tag, "k": k}))
        name = "ev" if k % 2 == 0 else "bill"
        steps.append(("append", name, {"after": tag, "k": k}))
    return steps


class Failure(Exception):
    pass


def _short(v):
    s = repr(v)
    return s if len(s) < 160 else s[:157] + "..."


class Model:
    """What the storage must hold: acknowledged values, full append history, the step in flight."""

    def __init__(self):
        self.vals = {}
        self.logs = {}
        for name in LOGS:
            self.logs[name] = []
        self.fly = None

    def apply(self, step):
        kind, name, value = step
        if kind == "save":
            self.vals[name] = value
        else:
            self.logs[name].append(value)


def _mount(chip):
    vfs.mount(vfs.VfsLfs2(chip), MOUNT)


def _umount():
    try:
        vfs.umount(MOUNT)
    except OSError:
        pass


def _run(steps, model):
    """Run steps against the mounted filesystem, keeping the model; PowerCut propagates."""
    st = store.Store(ROOT)
    logs = {}
    for name in LOGS:
        cap, seg = LOGS[name]
        logs[name] = store.Log(st, name, cap, seg)
    for step in steps:
        model.fly = step
        kind, name, value = step
        if kind == "save":
            st.save(name, value)
        else:
            logs[name].append(value)
        model.apply(step)
        model.fly = None


def _check(model, discards):
    """Compare what the flash holds with the model; resolve the in-flight step by what survived."""
    fly = model.fly
    landed = False
    st = store.Store(ROOT)
    for name in RECORDS:
        got = st.load(name)
        ok = [model.vals.get(name)]
        if fly is not None and fly[0] == "save" and fly[1] == name:
            ok.append(fly[2])
            landed = landed or (got == fly[2] and got != ok[0])
        if got not in ok:
            raise Failure("record %s = %s, expected one of %s" % (name, _short(got), _short(ok)))
    for name in LOGS:
        cap, seg = LOGS[name]
        log = store.Log(st, name, cap, seg)
        got = log.records()
        base = model.logs[name]
        ok = [base[-cap:]]
        if fly is not None and fly[0] == "append" and fly[1] == name:
            ok.append((base + [fly[2]])[-cap:])
            landed = landed or got == ok[1]
        if got not in ok:
            raise Failure("log %s = %s, expected one of %s" % (name, _short(got), _short(ok)))
        if log.last(2) != got[-2:] or log.count() != len(got):
            raise Failure("log %s last(2) = %s count %d" % (name, _short(log.last(2)), log.count()))
    if landed:
        model.apply(fly)
    model.fly = None
    discards.extend(st.discarded())


def _power_cycle(chip):
    _umount()
    chip2 = chip.power_cycle()
    try:
        _mount(chip2)
    except OSError as e:
        raise Failure("remount failed: %r" % (e,))
    return chip2


def run_once(steps, n, tear, seed, m=0, verbose=False):
    """One case: cut at op n (0: none), then optionally a second cut at op m of the writes after
    the recovery. Returns (workload ops, fired, discards list, overprograms)."""
    _umount()
    gc.collect()
    chip = FlashChip(block_count=BLOCKS)
    vfs.VfsLfs2.mkfs(chip)
    _mount(chip)
    chip.reset_counts()
    model = Model()
    discards = []
    if n:
        chip.arm(n, tear=tear, seed=seed)
    fired = False
    try:
        _run(steps, model)
    except PowerCut:
        fired = True
    ops = chip.ops
    over = chip.overprograms
    if verbose:
        print("cut 1 fired=%s in flight %s; chip %r" % (fired, _short(model.fly), chip.counts()))
    try:
        chip = _power_cycle(chip)
        _check(model, discards)
        for tag in (1, 2):
            if tag == 1 and m:
                chip.arm(m, tear=tear, seed=seed + 1)
            try:
                _run(post_steps(tag), model)
            except PowerCut:
                if verbose:
                    print("cut 2 fired in flight %s; chip %r" % (_short(model.fly), chip.counts()))
                over += chip.overprograms
                chip = _power_cycle(chip)
                _check(model, discards)
        over += chip.overprograms
        chip.disarm()
        _check(model, discards)  # everything after the last recovery must be exactly there
    finally:
        _umount()
    return ops, fired, discards, over


def main():
    args = sys.argv[1:]
    rounds = 30
    if "--rounds" in args:
        rounds = int(args[args.index("--rounds") + 1])
    steps = workload(rounds)
    if args and args[0] == "--replay":
        n, tear, seed = int(args[1]), int(args[2]), int(args[3])
        m = int(args[4]) if len(args) > 4 and not args[4].startswith("-") else 0
        try:
            ops, fired, d, o = run_once(steps, n, tear, seed, m, verbose=True)
            print("replay passed: discards %r overprograms %d" % (d, o))
        except Failure as e:
            print("replay FAILED:", e)
            sys.exit(1)
        return
    quick = "--quick" in args
    t0 = _ms()
    total = run_once(steps, 0, 0, 0)[0]
    points = list(range(1, total + 1))
    if quick:
        points = points[::7]
    cases = []
    for n in points:
        cases.append((n, 0, n, 0))  # clean cut
    for n in points:
        cases.append((n, 1, n, 0))  # torn cut
    for n in points:
        cases.append((n, n % 2, n, 1 + (n * 7) % (POST_STEPS * 3)))  # double fault
    failures = discards = over = clean = torn = double = 0
    reasons = {}
    for n, tear, seed, m in cases:
        if m:
            double += 1
        elif tear:
            torn += 1
        else:
            clean += 1
        try:
            ops, fired, d, o = run_once(steps, n, tear, seed, m)
            discards += len(d)
            over += o
            for item in d:
                key = "%s.%s:%s" % (item[0], item[1], item[2].split(" ")[0])
                reasons[key] = reasons.get(key, 0) + 1
            if not fired:
                raise Failure("cut %d never fired (%d ops)" % (n, ops))
        except Failure as e:
            failures += 1
            print("FAIL N=%d tear=%d seed=%d M=%d: %s" % (n, tear, seed, m, e))
            print("replay: N=%d tear=%d seed=%d M=%d" % (n, tear, seed, m))
    ms = _ms() - t0
    print("discarded copies by kind: %s"
          % " ".join("%s=%d" % (k, reasons[k]) for k in sorted(reasons)))
    print("campaign: workload_steps=%d workload_ops=%d runs=%d clean=%d torn=%d double=%d "
          "failures=%d discards=%d overprograms=%d time_ms=%d"
          % (len(steps), total, len(cases), clean, torn, double, failures, discards, over, ms))
    sys.exit(1 if failures else 0)


main()
