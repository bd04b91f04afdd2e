"""`python -m host_tools.meterctl --port PORT COMMAND ...` (docs/meterctl.md)."""
import sys

from host_tools.meterctl.cli import main

sys.exit(main())
