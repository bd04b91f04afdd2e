"""`meterctl simulate SCENARIO.toml [--plot OUT.png] [--json]`: run a scenario on the simulated
meter (host_tools/scenario.py) with a progress bar; print its summary, draw its plot."""
import argparse
import datetime
import json
import sys

from host_tools import scenario
from host_tools.hil.bench import BenchError


def register(sub):
    q = sub.add_parser("simulate", help="run a scenario on the simulated meter (docs/scenarios.md)")
    q.add_argument("file", metavar="SCENARIO.toml")
    q.add_argument("--plot", metavar="OUT.png", help="write balance, load, relay and events as a PNG")
    q.add_argument("--state-dir", metavar="DIR", help="keep the simulated meter's flash here (default: temporary)")
    q.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print the summary as JSON")
    q.set_defaults(func=cmd_simulate)


def _bar(done, total, width=40):
    n = width * done // total if total else width
    sys.stderr.write("\r[%s%s] %3d%%  %s" % ("#" * n, "." * (width - n), 100 * done // max(total, 1),
                                             datetime.timedelta(seconds=int(done))))
    sys.stderr.flush()


def cmd_simulate(args):
    try:
        sc = scenario.Scenario(args.file)
    except scenario.ScenarioError as e:
        print("meterctl: %s" % e, file=sys.stderr)
        return 2
    quiet = not sys.stderr.isatty()
    run = scenario.Run(sc, progress=None if quiet else _bar, state_dir=args.state_dir)
    try:
        summary = run.run()
    except (scenario.ScenarioError, BenchError) as e:
        print("\nmeterctl: the scenario stopped: %s" % e, file=sys.stderr)
        return 1
    if not quiet:
        sys.stderr.write("\n")
    if args.plot:
        scenario.plot(run, args.plot)
        summary["plot"] = args.plot
    if getattr(args, "json", False):
        print(json.dumps(summary, indent=1, sort_keys=True))
    else:
        print(render(summary))
    return 0


def render(s):
    """The summary as a person reads it."""
    out = ["%s" % s["scenario"], "  %s .. %s" % (s["start"], s["end"]),
           "  energy      %.3f kWh imported, %.3f kWh exported" % (s["energy_import_mwh"] / 1e6,
                                                                 s["energy_export_mwh"] / 1e6),
           "  balance     Rs %.2f   arrears Rs %.2f   credited Rs %.2f" % (
               s["balance_paise"] / 100, s["arrears_paise"] / 100, s["credited_paise"] / 100),
           "  relay       %s (%s)" % (s["relay"], s["relay_reason"])]
    for c in s["cuts"]:
        out.append("  cut         %s  %s" % (c["time"], c["reason"]))
    for c in s["reconnects"]:
        out.append("  reconnected %s" % c["time"])
    for a in s["actions"]:
        out.append("  action      %s  %s" % (a["time"], a["what"]))
    for b in s["billing"]:
        out.append("  bill %s  Rs %.2f" % (b.get("month"), b.get("total_paise", sum(
            v for k, v in b.items() if k.endswith("_paise") and k not in ("balance_paise",))) / 100))
    m = s["this_month"]
    out.append("  this month  %s" % json.dumps(m, sort_keys=True)[:200])
    if s.get("plot"):
        out.append("  plot        %s" % s["plot"])
    return "\n".join(out)
