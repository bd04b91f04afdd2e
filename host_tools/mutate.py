"""Mutation testing of one firmware module with mutmut: `make mutate MODULE=tariff`.

mutmut names a mutant after the file's module path, and only strips a `src/` (or `source/`)
folder from it; the tests import firmware modules by bare name (`import tariff`), so on the
repo's own layout the names never match. This tool stages a copy of the tree under
build/mutate/<module>/ with `firmware/` renamed `src/` (and the one path in tests/conftest.py that
names it), runs mutmut there on the module's fast tests (unit and property, never HIL), and
prints the score, leaving out the mutants listed as equivalent in tests/mutation/equivalent.txt.

The last line is the contract: `mutation score: NN% (killed K of N)`.
"""
import argparse
import pathlib
import re
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
EQUIVALENT = ROOT / "tests" / "mutation" / "equivalent.txt"

# Tests of other modules that also pin this one down (the account is the tariff's main caller).
# tests/unit/test_boundaries.py holds the exact-boundary tests of issue 23 for several modules.
EXTRA_TESTS = {
    "tariff": ["tests/unit/test_account.py", "tests/property/test_account_props.py"],
    "account": ["tests/unit/test_boundaries.py"],
    "energy": ["tests/unit/test_metering_drivers.py", "tests/unit/test_boundaries.py"],
    "store": ["tests/unit/test_flash_powerloss.py", "tests/unit/test_boundaries.py"],
    "sts": ["tests/test_meterctl_tokens.py"],
}
KILLED = ("killed", "timeout", "segfault")  # a mutant that hangs or crashes the tests is caught


def fast_tests(module):
    """The module's own unit and property tests, and the extras that exercise it."""
    found = sorted(str(p.relative_to(ROOT)) for pattern in (
        "tests/unit/test_%s.py" % module, "tests/unit/test_%s_*.py" % module,
        "tests/property/test_%s_props.py" % module) for p in ROOT.glob(pattern))
    for extra in EXTRA_TESTS.get(module, ()):
        if (ROOT / extra).exists() and extra not in found:
            found.append(extra)
    return found


def equivalent(module):
    """Mutants judged equivalent (no behaviour differs), from tests/mutation/equivalent.txt:
    one `<mutant name>  <reason>` a line; the reason is required."""
    out = {}
    if not EQUIVALENT.exists():
        return out
    for line in EQUIVALENT.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, reason = line.partition(" ")
        if not reason.strip():
            raise SystemExit("%s: %s has no reason" % (EQUIVALENT, name))
        if name.startswith(module + "."):
            out[name] = reason.strip()
    return out


def stage(module, work):
    """A copy of the tree where firmware/ is src/, so mutmut's names match the bare imports."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis", ".pytest_cache")
    shutil.copytree(ROOT / "firmware", work / "src", ignore=ignore)
    for name in ("tests", "host_tools", "boards"):
        shutil.copytree(ROOT / name, work / name, ignore=ignore)
    conftest = work / "tests" / "conftest.py"
    text = conftest.read_text()
    staged = text.replace('ROOT / "firmware"', 'ROOT / "src"')
    if staged == text:
        raise SystemExit("tests/conftest.py no longer names ROOT / \"firmware\": update host_tools/mutate.py")
    conftest.write_text(staged)
    tests = fast_tests(module)
    if not tests:
        raise SystemExit("no fast tests found for %s" % module)
    (work / "setup.cfg").write_text(
        "[mutmut]\nsource_paths=src/%s.py\npytest_add_cli_args_test_selection=%s\n"
        "also_copy=src\n    tests\n    host_tools\n    boards\n" % (module, "\n    ".join(tests)))
    return tests


def results(work):
    """{mutant name: status} as mutmut reports them."""
    proc = subprocess.run([_mutmut(), "results", "--all", "true"], cwd=work, capture_output=True,
                          text=True, check=True)
    out = {}
    for line in proc.stdout.splitlines():
        m = re.match(r"\s*(\S+): (.+)$", line)
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


def score(statuses, equiv):
    """(killed, counted, survivors): equivalent mutants are left out of both counts."""
    counted = {n: s for n, s in statuses.items() if n not in equiv}
    killed = sum(1 for s in counted.values() if s in KILLED)
    survivors = sorted(n for n, s in counted.items() if s not in KILLED)
    return killed, len(counted), survivors


def _mutmut():
    here = pathlib.Path(sys.executable).parent / "mutmut"
    return str(here) if here.exists() else "mutmut"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("module", help="firmware module name, e.g. tariff")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    if not (ROOT / "firmware" / (args.module + ".py")).exists():
        raise SystemExit("no module firmware/%s.py" % args.module)
    work = ROOT / "build" / "mutate" / args.module
    tests = stage(args.module, work)
    print("mutating firmware/%s.py; tests: %s" % (args.module, " ".join(tests)), flush=True)
    subprocess.run([_mutmut(), "run", "--max-children", str(args.jobs)], cwd=work, check=True,
                   stdout=subprocess.DEVNULL)
    statuses = results(work)
    equiv = equivalent(args.module)
    killed, counted, survivors = score(statuses, equiv)
    for name in survivors:
        print("survived: %s   (mutmut show %s, in %s)" % (name, name, work.relative_to(ROOT)))
    print("equivalent (not counted): %d" % len(equiv.keys() & statuses.keys()))
    pct = 100 * killed // counted if counted else 0
    print("mutation score: %d%% (killed %d of %d)" % (pct, killed, counted))
    return 0


if __name__ == "__main__":
    sys.exit(main())
