# A package, so HIL test modules may share a basename with tests/ and tests/unit/ ones
# (test_connection.py, test_powerloss.py) without a pytest "import file mismatch".
