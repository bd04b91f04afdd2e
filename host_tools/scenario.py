"""Scenarios on the simulated meter: a household's load over days, recharges, power cuts, clock
and tariff changes, run in virtual time and summed up (`meterctl simulate FILE`).

A scenario is a TOML file (examples/scenarios/, docs/scenarios.md):

    name = "Grace, then a cut inside the window"
    config = "../meter.toml"            # provisioning file, relative to the scenario
    start = 2026-11-30T09:00:00         # the meter's clock at the start (local time)
    days = 3                            # how long to run (or hours = N)
    sample_minutes = 15                 # how often the summary's series are read

    [load]                              # the household: one of
    watts = 500                         #   a constant load
    daily = [["00:00", 0], ["18:00", 1200], ["22:00", 0]]   # a daily curve (steps)
    csv = "household.csv"               #   `time,watts` rows (ISO time or seconds from start)

    [[actions]]
    at = "2026-11-30T15:00:00"          # or: after = "1d 2h 30m" from the start
    token = 500                         # keypad token for 500 units, vended at that moment
    # credit = 50000 (paise, over the link) | power_cut = "2h" | load = 3000 (watts, replaces the
    # profile until the next `load` action; "profile" returns to it) | keys = "FN" | clock =
    # "2026-12-01T10:00:00" | relay = "open"|"auto" | tariff = {...} (a [tariff] section)
    # | tamper = "magnet"|"cover" with on = true|false (where the bench supports it)
    # | read = "daily 60" (a technician's read-out over the link; the reply's size is kept)

It drives the meter only through the bench and the link, like a test, so the same run gives the
same summary to the paisa: the simulator's time is virtual and tokens are vended with a fixed
random field.
"""
import csv
import datetime
import itertools
import json
import pathlib
import random
import re
import tomllib

from host_tools import provisioning
from host_tools import sts as hsts
from host_tools.hil import SimulatedMeter
from host_tools.hil.bench import from_seconds, to_seconds

DURATION = re.compile(r"^\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?\s*$")
ACTION_KINDS = ("token", "credit", "power_cut", "load", "keys", "clock", "relay", "tariff", "tamper", "read")


class ScenarioError(ValueError):
    """The scenario file is wrong: the message names the file and the place."""


def parse_duration(text, where):
    """'1d 2h 30m' -> seconds."""
    m = DURATION.match(str(text))
    if not m or not any(m.groups()):
        raise ScenarioError("%s: %r is not a duration like '2h 30m' or '1d'" % (where, text))
    d, h, mi, s = (int(g or 0) for g in m.groups())
    return ((d * 24 + h) * 60 + mi) * 60 + s


def _when(value, where):
    if isinstance(value, datetime.datetime):
        return value
    try:
        return datetime.datetime.fromisoformat(str(value))
    except ValueError:
        raise ScenarioError("%s: %r is not a time (YYYY-MM-DDTHH:MM:SS)" % (where, value)) from None


class Scenario:
    """A parsed, checked scenario file."""

    def __init__(self, path):
        self.path = pathlib.Path(path)
        try:
            data = tomllib.loads(self.path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise ScenarioError("%s: %s" % (self.path, e)) from None
        where = str(self.path)
        self.name = data.get("name", self.path.stem)
        self.board = data.get("board", "sim")
        cfg = data.get("config")
        if not cfg:
            raise ScenarioError("%s: `config` (the provisioning file) is required" % where)
        self.config = str((self.path.parent / cfg).resolve())
        self.start = _when(data.get("start", "2026-11-30T09:00:00"), where + ": start")
        if "days" in data or "hours" in data:
            self.seconds = int(data.get("days", 0)) * 86400 + int(data.get("hours", 0)) * 3600
        else:
            raise ScenarioError("%s: give the length as `days = N` or `hours = N`" % where)
        if self.seconds <= 0:
            raise ScenarioError("%s: the scenario must last more than 0 s" % where)
        self.end = self.start + datetime.timedelta(seconds=self.seconds)
        self.sample_s = int(data.get("sample_minutes", 15)) * 60
        if self.sample_s <= 0:
            raise ScenarioError("%s: sample_minutes must be 1 or more" % where)
        self.load_steps = self._load(data.get("load", {"watts": 0}), where + ": [load]")
        self.actions = []
        for i, a in enumerate(data.get("actions", [])):
            aw = "%s: actions[%d]" % (where, i)
            if "at" in a:
                t = _when(a["at"], aw)
            elif "after" in a:
                t = self.start + datetime.timedelta(seconds=parse_duration(a["after"], aw + ".after"))
            else:
                raise ScenarioError("%s: needs `at` or `after`" % aw)
            kinds = [k for k in ACTION_KINDS if k in a]
            if len(kinds) != 1:
                raise ScenarioError("%s: give exactly one of %s" % (aw, ", ".join(ACTION_KINDS)))
            if not self.start <= t <= self.end:
                raise ScenarioError("%s: %s is outside the scenario (%s .. %s)" % (aw, t, self.start, self.end))
            self.actions.append((t, i, kinds[0], a))
        self.actions.sort(key=lambda x: (x[0], x[1]))

    def _load(self, spec, where):
        """The profile as [(seconds from start, watts)] steps, time-ordered."""
        if "watts" in spec:
            return [(0, int(spec["watts"]))]
        if "daily" in spec:
            points = []
            for p in spec["daily"]:
                try:
                    hh, mm = (int(x) for x in str(p[0]).split(":"))
                    points.append((hh * 3600 + mm * 60, int(p[1])))
                except (ValueError, IndexError, TypeError):
                    raise ScenarioError("%s: daily points are [\"HH:MM\", watts], got %r" % (where, p)) from None
            points.sort()
            steps = []
            first_day = self.start.replace(hour=0, minute=0, second=0)
            day = 0
            while True:
                base = first_day + datetime.timedelta(days=day)
                if base > self.end:
                    break
                for sec, w in points:
                    t = (base + datetime.timedelta(seconds=sec) - self.start).total_seconds()
                    if t <= 0:
                        steps = [(0, w)] if not steps or steps[0][0] <= 0 else steps
                        continue
                    if t < self.seconds:
                        steps.append((int(t), w))
                day += 1
            if not steps or steps[0][0] != 0:
                # the load at the start is the curve's value at the start's time of day
                tod = (self.start - first_day).total_seconds()
                w0 = points[-1][1]
                for sec, w in points:
                    if sec <= tod:
                        w0 = w
                steps.insert(0, (0, w0))
            return steps
        if "csv" in spec:
            path = self.path.parent / spec["csv"]
            steps = []
            try:
                with open(path, newline="") as f:
                    for n, row in enumerate(csv.reader(f), 1):
                        if not row or row[0].startswith("#") or row[0] == "time":
                            continue
                        t = row[0].strip()
                        sec = int(t) if t.isdigit() else (_when(t, "%s:%d" % (path, n))
                                                           - self.start).total_seconds()
                        steps.append((int(sec), int(float(row[1]))))
            except (OSError, ValueError, IndexError) as e:
                raise ScenarioError("%s: %s: %s" % (where, path, e)) from None
            steps.sort()
            if not steps or steps[0][0] > 0:
                steps.insert(0, (0, 0))
            return steps
        raise ScenarioError("%s: give `watts`, `daily` or `csv`" % where)


class Run:
    """One scenario on one simulated meter: the series it read and what it saw happen."""

    def __init__(self, scenario, progress=None, state_dir=None):
        self.sc = scenario
        self.progress = progress or (lambda done, total: None)
        self.state_dir = state_dir
        self.samples = []  # (time, balance_paise, load_w, power_w, relay_closed, energy_mwh)
        self.actions_done = []  # (time, text)
        self.override = None  # load set by an action, in place of the profile
        self.profile_w = 0  # the profile's load now
        self.rnd = random.Random(0)
        self._txn = itertools.count(1)

    def run(self):
        sc = self.sc
        with SimulatedMeter(state_dir=self.state_dir, board=sc.board, config=sc.config,
                            clock=sc.start) as m:
            self.m = m
            cfg = provisioning.load(sc.config)
            self.sts_key = cfg.sts_key
            self._go(m)
            self.summary = self._summarise(m)
        return self.summary

    def _events_at(self):
        """Every moment something happens, from the start to the end, in order."""
        sc = self.sc
        times = set(range(0, sc.seconds + 1, sc.sample_s))
        times.add(sc.seconds)
        times.update(t for t, _ in sc.load_steps if t <= sc.seconds)
        times.update(int((a[0] - sc.start).total_seconds()) for a in sc.actions)
        return sorted(times)

    def _go(self, m):
        sc = self.sc
        steps = dict(sc.load_steps)
        actions = {}
        for t, _i, kind, a in sc.actions:
            actions.setdefault(int((t - sc.start).total_seconds()), []).append((kind, a))
        now = 0
        load = None
        for t in self._events_at():
            if t > now:
                m.bench.advance(t - now)
                now = t
            if t in steps:
                self.profile_w = steps[t]
            want = self.override if self.override is not None else self.profile_w
            if want != load:
                m.bench.set_load(want)
                load = want
            for kind, a in actions.get(t, []):
                self._act(m, kind, a, t)
                want = self.override if self.override is not None else self.profile_w
                if want != load:
                    m.bench.set_load(want)
                    load = want
            if t % sc.sample_s == 0 or t == sc.seconds:
                self._sample(m, t, load)
            self.progress(t, sc.seconds)

    def _act(self, m, kind, a, t):
        when = self.sc.start + datetime.timedelta(seconds=t)
        text = kind
        if kind == "token":
            token = hsts.vend_credit(self.sts_key, int(a["token"]), to_seconds(m.bench.now()),
                                     rnd=self.rnd.randrange(16))
            m.bench.type_keys(token)
            m.bench.press("ENTER")
            m.bench.advance(1)
            text = "token %d units: %s" % (int(a["token"]), " / ".join(l.strip() for l in m.bench.lcd()))
        elif kind == "credit":
            r = m.link.call("credit %d S%d" % (int(a["credit"]), next(self._txn)), key=m.key)
            text = "credit Rs %.2f (balance Rs %.2f)" % (int(a["credit"]) / 100, r["balance_paise"] / 100)
        elif kind == "power_cut":
            off = parse_duration(a["power_cut"], "power_cut")
            m.bench.power_cut(warning=a.get("warning", True))
            m.bench.advance(off)
            m.bench.power_restore()
            text = "power cut for %s" % datetime.timedelta(seconds=off)
        elif kind == "load":
            self.override = None if a["load"] == "profile" else int(a["load"])
            text = "load %s" % a["load"]
        elif kind == "keys":
            for k in a["keys"].split():
                m.bench.press(k)
            text = "keys %s: %s" % (a["keys"], " / ".join(l.strip() for l in m.bench.lcd()))
        elif kind == "clock":
            m.bench.set_clock(_when(a["clock"], "clock"))
            text = "clock set to %s" % a["clock"]
        elif kind == "relay":
            m.link.call("relay %s" % a["relay"], key=m.key)
        elif kind == "tariff":
            m.link.call("provision tariff %s" % json.dumps(a["tariff"]), key=m.key)
            text = "tariff changed"
        elif kind == "read":
            reply = m.link.command(a["read"])
            if not reply.startswith("OK"):
                raise ScenarioError("read %r: the meter answered %s" % (a["read"], reply[:80]))
            text = "read %s: %d bytes" % (a["read"], len(reply))
        elif kind == "tamper":
            setter = getattr(m.bench, "set_" + a["tamper"], None)
            if setter is None:
                raise ScenarioError("the bench cannot cause tamper %r" % a["tamper"])
            setter(bool(a.get("on", True)))
            text = "tamper %s %s" % (a["tamper"], "on" if a.get("on", True) else "off")
        self.actions_done.append((when, text))

    def _sample(self, m, t, load):
        s = m.link.call("status")
        self.samples.append((self.sc.start + datetime.timedelta(seconds=t), s["balance_paise"], load,
                             s["power_w"], s["relay"] == "closed", s["energy_import_mwh"]))

    def _summarise(self, m):
        s = m.link.call("status")
        evs = m.link.call("events 50")["events"]
        cuts, reconnects, codes = [], [], {}
        for e in evs:
            codes[e["code"]] = codes.get(e["code"], 0) + 1
            when = from_seconds(e["t"]).isoformat() if e["t"] >= 0 else None
            if e["code"] == "relay_open":
                cuts.append({"time": when, "reason": e["d"]})
            elif e["code"] == "relay_closed":
                reconnects.append({"time": when})
        billing = m.link.call("billing")
        acct = m.link.call("account")
        return {
            "scenario": self.sc.name,
            "start": self.sc.start.isoformat(), "end": self.sc.end.isoformat(),
            "energy_import_mwh": s["energy_import_mwh"],
            "energy_export_mwh": s["energy_export_mwh"],
            "balance_paise": s["balance_paise"],
            "arrears_paise": s["arrears_paise"],
            "relay": s["relay"], "relay_reason": s["relay_reason"],
            "cuts": cuts, "reconnects": reconnects,
            "credited_paise": acct["ledger"].get("credit", 0),
            "ledger": acct["ledger"],
            "billing": billing["billing"], "this_month": billing["this_month"],
            "events": codes,
            "actions": [{"time": t.isoformat(), "what": x} for t, x in self.actions_done],
        }


def plot(run, out):
    """A PNG a person can read: balance, load, relay and events over time, one panel each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    t = [x[0] for x in run.samples]
    fig, axes = plt.subplots(4, 1, figsize=(11, 8.5), sharex=True,
                             gridspec_kw={"height_ratios": [3, 2, 1, 1.4]})
    ax = axes[0]
    ax.step(t, [x[1] / 100 for x in run.samples], where="post", color="tab:green")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_ylabel("balance (Rs)")
    ax.set_title(run.sc.name)
    ax = axes[1]
    ax.step(t, [x[2] for x in run.samples], where="post", label="household load", color="tab:orange")
    ax.step(t, [x[3] for x in run.samples], where="post", label="metered", color="tab:blue", alpha=0.7)
    ax.set_ylabel("power (W)")
    ax.legend(loc="upper right", fontsize="small")
    ax = axes[2]
    ax.step(t, [1 if x[4] else 0 for x in run.samples], where="post", color="tab:red")
    ax.set_yticks([0, 1], ["open", "closed"])
    ax.set_ylabel("relay")
    ax = axes[3]
    ax.set_yticks([])
    ax.set_ylabel("events")
    for i, (when, text) in enumerate(run.actions_done):
        ax.axvline(when, color="tab:purple", lw=0.8)
        ax.annotate(text[:40], (when, 0.15 + 0.25 * (i % 3)), fontsize=7, rotation=0,
                    xytext=(3, 0), textcoords="offset points")
    for c in run.summary["cuts"]:
        if c["time"]:
            when = datetime.datetime.fromisoformat(c["time"])
            for a in axes[:3]:
                a.axvline(when, color="tab:red", ls="--", lw=0.8)
    axes[-1].xaxis.set_major_formatter(mdates.DateFormatter("%d %b\n%H:%M"))
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
