"""Assertion helpers that work on CPython and the MicroPython unix port alike."""


class raises:
    """with raises(ValueError): ... -- fails unless the block raises that exception type."""

    def __init__(self, exc_type):
        self.exc_type = exc_type
        self.value = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            raise AssertionError("expected %s" % self.exc_type.__name__)
        if not issubclass(exc_type, self.exc_type):
            return False
        self.value = exc
        return True


try:
    import pytest

    def skip(reason):
        """Skip this test visibly, saying why (pytest on CPython)."""
        pytest.skip(reason)

except ImportError:  # MicroPython: tests/mp_run.py counts and prints these

    class Skipped(Exception):
        pass

    def skip(reason):
        raise Skipped(reason)
