"""The docs tell the truth about the tree: every file path they name exists, and docs/meterctl.md
documents exactly the commands meterctl has."""
import pathlib
import re

from host_tools.meterctl import cli

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = sorted(ROOT.glob("docs/*.md")) + [ROOT / "README.md"]
TOP = ("firmware", "boards", "host_tools", "tests", "bench", "examples", "docs", ".ci")
# `path/to/file.ext` or `folder/` in backticks or links, rooted at one of the project's folders
PATH = re.compile(r"(?<![\w./-])((?:%s)/[\w./*<>-]*)" % "|".join(re.escape(t) for t in TOP))


def named_paths(text):
    for m in PATH.finditer(text):
        p = m.group(1).rstrip(".,:;)")
        if "<" in p or "*" in p or p.endswith("/..."):
            continue  # a pattern (build/<board>/, tests/unit/test_*.py), not one path
        yield p


def test_every_path_the_docs_name_exists():
    missing = []
    for doc in DOCS:
        for p in named_paths(doc.read_text()):
            if not (ROOT / p).exists():
                missing.append("%s: %s" % (doc.relative_to(ROOT), p))
    assert not missing, "\n".join(missing)


def test_meterctl_md_documents_exactly_the_commands_meterctl_has():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    commands = set(sub.choices)
    text = (ROOT / "docs" / "meterctl.md").read_text()
    documented = set()
    for m in re.finditer(r"^###\s+`([^`]+)`(?:\s+and\s+`([^`]+)`)?", text, re.M):
        for g in m.groups():
            if g:
                documented.add(g.split()[0])
    assert documented - commands == set(), "documented but not a command: %s" % (documented - commands)
    assert commands - documented == set(), "commands without a section: %s" % (commands - documented)
