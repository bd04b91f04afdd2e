import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "firmware", ROOT / "tests", ROOT / "tests" / "unit"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

pytest_plugins = ["host_tools.hil.pytest_plugin"]
