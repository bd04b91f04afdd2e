"""Chip drivers over bus objects (docs/architecture.md).

`const` for every driver: MicroPython's compiler folds `_NAME = const(n)` wherever `const` came
from (it matches the name, so never import it under another one), and CPython, which has no
`micropython` module, gets the identity here once instead of in each driver. Error numbers come
from `errno` (EIO, ENODEV), which both have.
"""
try:
    from micropython import const
except ImportError:  # CPython

    def const(x):  # type: ignore[misc]  # CPython has no micropython.const
        return x
