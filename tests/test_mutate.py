"""The mutation-testing tool's own logic: which tests it runs, how it stages, how it scores."""
from host_tools import mutate


def test_fast_tests_are_the_modules_unit_and_property_tests_never_hil():
    tests = mutate.fast_tests("tariff")
    assert "tests/unit/test_tariff.py" in tests
    assert "tests/unit/test_account.py" in tests  # the account is the tariff's main caller
    assert not any(t.startswith("tests/hil") for t in tests)


def test_stage_renames_firmware_to_src_so_bare_imports_match(tmp_path):
    work = tmp_path / "civiltime"
    mutate.stage("civiltime", work)
    assert (work / "src" / "civiltime.py").exists()
    assert not (work / "firmware").exists()
    assert 'ROOT / "src"' in (work / "tests" / "conftest.py").read_text()
    cfg = (work / "setup.cfg").read_text()
    assert "source_paths=src/civiltime.py" in cfg
    assert "tests/unit/test_civiltime.py" in cfg


def test_score_counts_timeouts_as_killed_and_leaves_out_equivalents():
    statuses = {"m.a": "killed", "m.b": "survived", "m.c": "timeout", "m.d": "survived",
                "m.e": "no tests"}
    killed, counted, survivors = mutate.score(statuses, {"m.d": "message text only"})
    assert (killed, counted) == (2, 4)
    assert survivors == ["m.b", "m.e"]  # a mutant no test runs is not killed


def test_every_listed_equivalent_mutant_gives_its_reason():
    for module in ("tariff", "account", "connection", "sts", "energy", "store"):
        for name, reason in mutate.equivalent(module).items():
            assert name.startswith(module + ".") and reason
