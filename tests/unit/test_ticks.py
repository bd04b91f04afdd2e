import ticks


def test_diff_across_wrap():
    a = ticks.PERIOD - 10
    b = ticks.add(a, 25)
    assert b == 15
    assert ticks.diff(b, a) == 25
    assert ticks.diff(a, b) == -25
