"""Run one unit-test module's test_* functions under MicroPython; print a summary line.

Usage: micropython tests/mp_run.py MODULE  (MICROPYPATH must hold firmware/ and tests/unit/)
"""
import sys


def main():
    name = sys.argv[1]
    mod = __import__(name)
    passed = failed = skipped = 0
    for attr in sorted(dir(mod)):
        if not attr.startswith("test_"):
            continue
        fn = getattr(mod, attr)
        try:
            fn()
            passed += 1
        except Exception as e:  # report every failing test, keep going
            if type(e).__name__ == "Skipped":  # _check.skip(reason)
                skipped += 1
                print("SKIP %s.%s: %s" % (name, attr, e))
                continue
            failed += 1
            print("FAIL %s.%s" % (name, attr))
            sys.print_exception(e)
    print("mp_run %s: %d passed, %d failed, %d skipped" % (name, passed, failed, skipped))
    sys.exit(1 if failed or not passed else 0)


main()
