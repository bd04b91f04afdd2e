"""docs/provisioning.md says what firmware/schema.py checks: its ranges table is the rendering of
the schema, and every `lo..hi` range the section tables give for a key is the schema's."""
import pathlib
import re

from host_tools import provisioning

import schema

DOC = pathlib.Path(__file__).resolve().parent.parent / "docs" / "provisioning.md"


def test_the_ranges_table_is_the_schema_rendered():
    text = DOC.read_text()
    want = provisioning.ranges_markdown()
    assert want in text, "docs/provisioning.md is out of step with firmware/schema.py; paste:\n" + want


def test_section_tables_agree_with_the_schema():
    section = None
    checked = 0
    unchecked = []
    for line in DOC.read_text().splitlines():
        m = re.match(r"## `\[(\w+)\]`", line)
        if m:
            section = m.group(1)
            continue
        if line.startswith("## "):
            section = None
        m = re.match(r"\| `(\w+)` \|", line)
        if not (section and m):
            continue
        key = m.group(1)
        known = [(r[2], r[3]) for r in schema.rows(section) if r[1] == key or r[1].startswith(key + "[]")]
        if not known:
            unchecked.append("%s.%s" % (section, key))  # not in the schema yet: tariff.py checks it
            continue
        for lo, hi in re.findall(r"\b(\d+)\.\.(\d+(?:\^\d+)?)", line):
            base, _, exp = hi.partition("^")
            hi = int(base) ** int(exp) if exp else int(base)
            assert (int(lo), hi) in known, (line, known)
            checked += 1
    assert checked >= 5, checked
    print("documented keys the schema does not hold yet:", unchecked)


def test_the_host_file_check_uses_the_schema(tmp_path):
    text = (DOC.parent.parent / "examples" / "meter.toml").read_text().replace("duty_percent = 5", "duty_percent = 1e308")
    p = tmp_path / "m.toml"
    p.write_text(text)
    try:
        provisioning.load(str(p))
    except provisioning.ConfigError as e:
        assert "[tariff] duty_percent must be a number 0..100" in str(e), e
    else:
        raise AssertionError("a 1e308 duty was accepted")
