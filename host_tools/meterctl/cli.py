"""meterctl: the technician's tool for a meter on its serial service port (docs/meterctl.md).

    python -m host_tools.meterctl --port /dev/ttyUSB0 [--config meter.toml] [--json] COMMAND ...

Readable tables for people, `--json` for scripts (the meter's reply dicts). Exit codes:
0 done, 1 the meter refused (ERR), 2 usage or configuration error, 3 the port is missing, busy or
not a meter.
"""
import argparse
import datetime
import decimal
import json
import logging
import os
import pathlib
import shutil
import subprocess
import sys
import time

import serial

from host_tools import provisioning
from host_tools.link import Link, LinkError, MeterError, open_port, parse_reply
from host_tools.meterctl import simulate, tokens
from host_tools.meterctl.bill import format_bill

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_PORT = 0, 1, 2, 3


class UsageError(Exception):
    """Bad arguments or configuration (exit 2)."""


class PortError(Exception):
    """The port is missing, busy or has no meter on it (exit 3)."""


# --------------------------------------------------------------------------- output helpers


def out(args, human, data):
    """Print `data` as JSON with --json, else the human text (a str or a list of lines)."""
    if args.json:
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        print(human if isinstance(human, str) else "\n".join(human))


def rupees(paise):
    if paise is None:
        return "-"
    sign = "-" if paise < 0 else ""
    p = abs(int(paise))
    return "%sRs %d.%02d" % (sign, p // 100, p % 100)


def kwh(mwh):
    if mwh is None:
        return "-"
    sign = "-" if mwh < 0 else ""
    m = abs(int(mwh))
    return "%s%d.%03d kWh" % (sign, m // 1_000_000, (m % 1_000_000) // 1000)


def fixed(value, scale, digits, unit=""):
    """Integer `value` in 1/scale units as a decimal string (no float)."""
    if value is None:
        return "-"
    sign = "-" if value < 0 else ""
    v = abs(int(value))
    s = "%s%d.%0*d" % (sign, v // scale, digits, (v % scale) * 10 ** digits // scale)
    return s + (" " + unit if unit else "")


def duration(s):
    if s is None:
        return "-"
    s = int(s)
    return "%dh %02dm" % (s // 3600, s % 3600 // 60)


def when(t):
    """Meter seconds since 2000-01-01 local -> 'YYYY-MM-DD HH:MM:SS'."""
    if not isinstance(t, int):
        return str(t)
    return (datetime.datetime(2000, 1, 1) + datetime.timedelta(seconds=t)).strftime("%Y-%m-%d %H:%M:%S")


def kv_table(rows):
    """[(label, value)] -> aligned lines."""
    width = max(len(k) for k, _ in rows) if rows else 0
    return ["%-*s  %s" % (width, k, v) for k, v in rows]


def grid(headers, rows):
    """Column table with a header line."""
    cols = [[str(h)] + [str(r[i]) for r in rows] for i, h in enumerate(headers)]
    widths = [max(len(c) for c in col) for col in cols]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip(),
             "  ".join("-" * w for w in widths)]
    for r in rows:
        lines.append("  ".join(str(v).rjust(w) if isinstance(v, (int, float)) or _numeric(v) else str(v).ljust(w)
                               for v, w in zip(r, widths)).rstrip())
    return lines


def _numeric(v):
    s = str(v)
    return bool(s) and (s.replace("Rs ", "").replace(" kWh", "").lstrip("-").replace(".", "").isdigit())


class Progress:
    """A text progress bar on stderr ([#####.....] 3/6 tariff); plain lines when not a terminal."""

    def __init__(self, total, title, width=30):
        self.total = max(1, total)
        self.title = title
        self.width = width
        self.done = 0
        self.tty = sys.stderr.isatty()

    def step(self, label):
        self.done += 1
        n = self.width * min(self.done, self.total) // self.total
        bar = "[%s%s] %d/%d %s" % ("#" * n, "." * (self.width - n), self.done, self.total, label)
        if self.tty:
            sys.stderr.write("\r%s: %-70s" % (self.title, bar))
            if self.done >= self.total:
                sys.stderr.write("\n")
        else:
            sys.stderr.write("%s: %s\n" % (self.title, bar))
        sys.stderr.flush()

    def finish(self):
        if self.tty and self.done < self.total:
            sys.stderr.write("\n")
            sys.stderr.flush()


# --------------------------------------------------------------------------- the link


def open_link(args):
    """Open the meter's port, turning pyserial's failures into clear words (PortError)."""
    port = args.port
    if not port:
        raise UsageError("give the meter's port: --port /dev/ttyUSB0 (or set METERCTL_PORT)")
    if port.startswith("/") and not os.path.exists(port):
        raise PortError("no port %s: is the meter plugged in and powered?%s" % (port, _port_list()))
    try:
        link = Link(port, timeout=args.timeout)
    except LinkError as e:
        text = str(e)
        if "lock" in text.lower() or "busy" in text.lower() or "Errno 16" in text or "Errno 11" in text:
            raise PortError("port %s is busy: another program (a terminal, mpremote, another meterctl) "
                            "has it open; close it and retry" % port) from None
        if "No such file" in text or "Errno 2" in text:
            raise PortError("no port %s: is the meter plugged in and powered?%s" % (port, _port_list())) from None
        if "Permission denied" in text or "Errno 13" in text:
            raise PortError("no permission to open %s: add yourself to the dialout group" % port) from None
        raise PortError(text) from None
    return link


def _port_list():
    try:
        from serial.tools import list_ports

        ports = sorted(p.device for p in list_ports.comports())
    except Exception:  # pragma: no cover - listing is a courtesy
        ports = []
    return (" (serial ports here: %s)" % ", ".join(ports)) if ports else ""


def _not_a_meter(args, e):
    if "MicroPython" in str(e) or ">>>" in str(e):
        return PortError("the board on %s is at the MicroPython REPL, not running the meter firmware "
                         "(an interrupted deploy?): run `meterctl deploy` to copy and start the firmware, "
                         "or press Ctrl-D in a serial terminal" % args.port)
    return PortError("no meter answers on %s: %s (is it a meter? is its firmware running, not the "
                     "MicroPython REPL?)" % (args.port, e))


def call(args, link, line, auth=False):
    """One request; the reply dict, MeterError on ERR, PortError when no meter answers."""
    try:
        reply = link.command(line, key=link_key(args) if auth else None, timeout=args.timeout)
        return parse_reply(reply)
    except LinkError as e:
        raise _not_a_meter(args, e) from None
    except (ValueError, KeyError) as e:  # an 'OK' without JSON: something else is on the port
        raise _not_a_meter(args, "unreadable reply (%s)" % e) from None


def load_config(args, path=None):
    path = path or args.config
    if not path:
        raise UsageError("this command changes the meter: give --config FILE (the meter's provisioning "
                         "file, whose [link] key authenticates the command), or set METERCTL_CONFIG")
    try:
        return provisioning.load(path)
    except provisioning.ConfigError as e:
        raise UsageError(str(e)) from None


def link_key(args):
    if getattr(args, "_key", None) is None:
        args._key = load_config(args).link_key
    return args._key


def with_link(fn):
    """Open the port, run fn(args, link), close it."""
    def run(args):
        if _needs_key(args):
            link_key(args)  # a config problem is reported before the port is touched
        link = open_link(args)
        try:
            return fn(args, link)
        finally:
            link.close()
    run.__name__ = fn.__name__
    return run


def _needs_key(args):
    c = args.command
    return c in ("credit", "calibrate") or (c == "clock" and args.set) or (c == "relay" and args.action) \
        or (c == "tariff" and args.action)


# --------------------------------------------------------------------------- commands


def cmd_provision(args):
    cfg = load_config(args, args.file)
    link = open_link(args)
    try:
        bar = Progress(1 + len(provisioning.SECTIONS), "provision %s" % cfg.serial)
        try:
            done = provisioning.provision(link, cfg, progress=bar.step)
        except LinkError as e:
            raise _not_a_meter(args, e) from None
        finally:
            bar.finish()
        info = call(args, link, "info")
    finally:
        link.close()
    out(args, ["provisioned %s: %s" % (info.get("serial"), ", ".join(done)),
               "firmware %s on board %s; set its clock with `meterctl clock --set now` if it is not trusted"
               % (info.get("firmware"), info.get("board"))],
        {"provisioned": done, "serial": info.get("serial"), "info": info})
    return EXIT_OK


def _status_lines(st):
    return kv_table([
        ("clock", "%s%s" % (st.get("clock") or "not set", "" if st.get("clock_trusted") else " (not trusted)")),
        ("balance", rupees(st.get("balance_paise"))),
        ("arrears", rupees(st.get("arrears_paise"))),
        ("emergency credit", "in use" if st.get("emergency_active") else "no"),
        ("days remaining", st.get("days_remaining")),
        ("relay", "%s (%s)" % (st.get("relay"), st.get("relay_reason"))),
        ("grace remaining", duration(st.get("grace_remaining_s"))),
        ("power", "%s W" % st.get("power_w")),
        ("energy imported", kwh(st.get("energy_import_mwh"))),
        ("energy exported", kwh(st.get("energy_export_mwh"))),
        ("provisioned", "yes" if st.get("provisioned") else "no"),
    ])


@with_link
def cmd_status(args, link):
    st = call(args, link, "status")
    out(args, _status_lines(st), st)
    return EXIT_OK


@with_link
def cmd_info(args, link):
    info = call(args, link, "info")
    out(args, kv_table([(k, info[k]) for k in sorted(info)]), info)
    return EXIT_OK


@with_link
def cmd_events(args, link):
    r = call(args, link, "events %d" % args.n)
    rows = [(when(e.get("t")), e.get("code"), e.get("d", e.get("detail", ""))) for e in r.get("events", [])]
    out(args, grid(["time", "event", "detail"], rows) if rows else "no events", r)
    return EXIT_OK


DAILY_COLUMNS = [("date", "date", str), ("import", "import_mwh", kwh), ("export", "export_mwh", kwh),
                 ("energy", "energy_paise", rupees), ("fixed", "fixed_paise", rupees),
                 ("duty", "duty_paise", rupees), ("credit", "credit_paise", rupees),
                 ("balance", "balance_paise", rupees)]
BILLING_COLUMNS = [("month", "month", str), ("import", "import_mwh", kwh), ("export", "export_mwh", kwh),
                   ("energy", "energy_paise", rupees), ("fixed", "fixed_paise", rupees),
                   ("duty", "duty_paise", rupees), ("total", "total_paise", rupees),
                   ("credit", "credit_paise", rupees),
                   ("arrears rec.", "arrears_recovered_paise", rupees),
                   ("emerg. taken", "emergency_taken_paise", rupees)]


def _records(args, r, key, current, columns, title):
    recs = list(r.get(key, []))
    rows = [[fmt(rec.get(k)) if rec.get(k) is not None else "-" for _, k, fmt in columns] for rec in recs]
    if r.get(current):
        rows.append([fmt(r[current].get(k)) if r[current].get(k) is not None else "-" for _, k, fmt in columns])
        rows[-1][0] += " (so far)"
    lines = grid([c[0] for c in columns], rows) if rows else ["no %s records yet" % title]
    out(args, lines, r)
    return EXIT_OK


@with_link
def cmd_daily(args, link):
    r = call(args, link, "daily %d" % args.n if args.n is not None else "daily")
    return _records(args, r, "daily", "today", DAILY_COLUMNS, "daily")


@with_link
def cmd_billing(args, link):
    r = call(args, link, "billing %d" % args.n if args.n is not None else "billing")
    if args.json:
        return _records(args, r, "billing", "this_month", BILLING_COLUMNS, "billing")
    recs = list(r.get("billing", []))
    rows = [[fmt(rec.get(k)) if rec.get(k) is not None else "-" for _, k, fmt in BILLING_COLUMNS] for rec in recs]
    if r.get("this_month"):
        rows.append([fmt(r["this_month"].get(k)) if r["this_month"].get(k) is not None else "-"
                     for _, k, fmt in BILLING_COLUMNS])
        rows[-1][0] += " (so far)"
    text = grid([c[0] for c in BILLING_COLUMNS], rows) if rows else ["no billing records yet"]
    if args.month:
        pick = [x for x in recs if x.get("month") == args.month]
        if not pick and r.get("this_month", {}).get("month") == args.month:
            text = format_bill(r["this_month"], open_month=True)
        elif pick:
            text = format_bill(pick[-1])
        else:
            raise UsageError("no billing record for %s" % args.month)
    else:
        if recs:
            text += [""] + format_bill(recs[-1])
        if r.get("this_month"):
            text += [""] + format_bill(r["this_month"], open_month=True)
    print("\n".join(text))
    return EXIT_OK


def _measure_lines(m):
    return kv_table([
        ("voltage", fixed(m.get("volts_cv"), 100, 2, "V")),
        ("current", fixed(m.get("current_ma"), 1000, 3, "A")),
        ("power", "%s W" % m.get("power_w")),
        ("power factor", fixed(m.get("pf_milli"), 1000, 3)),
        ("frequency", fixed(m.get("freq_chz"), 100, 2, "Hz")),
        ("neutral current", fixed(m.get("neutral_ma"), 1000, 3, "A")),
    ])


@with_link
def cmd_measure(args, link):
    m = call(args, link, "measure")
    out(args, _measure_lines(m), m)
    return EXIT_OK


def to_paise(text):
    """'500' / '500.5' / '499.99' rupees -> paise, exactly (Decimal, no float)."""
    try:
        value = decimal.Decimal(text.strip())
    except decimal.InvalidOperation:
        raise UsageError("amount %r is not a number of rupees" % text) from None
    if not value.is_finite():
        raise UsageError("amount %r is not a number of rupees" % text)
    paise = value * 100
    if paise != paise.to_integral_value():
        raise UsageError("amount %s has fractions of a paisa: give at most 2 decimals" % text)
    if paise <= 0:
        raise UsageError("amount must be more than Rs 0")
    return int(paise)


def check_txn(txn):
    if not 1 <= len(txn) <= 40 or any(c.isspace() or not c.isprintable() or ord(c) > 126 for c in txn):
        raise UsageError("--txn must be 1-40 printable characters without spaces")
    return txn


@with_link
def cmd_credit(args, link):
    paise = to_paise(args.rupees)
    txn = check_txn(args.txn)
    r = call(args, link, "credit %d %s" % (paise, txn), auth=True)
    if r.get("duplicate"):
        head = "transaction %s was credited before: nothing added this time (duplicate)" % txn
    else:
        head = "credited %s (transaction %s)" % (rupees(r.get("credited")), txn)
    out(args, [head] + kv_table([
        ("to arrears", rupees(r.get("arrears_recovered"))),
        ("emergency repaid", rupees(r.get("emergency_repaid"))),
        ("to balance", rupees(r.get("to_balance"))),
        ("balance now", rupees(r.get("balance_paise"))),
    ]), r)
    return EXIT_OK


def _decimal_arg(text, what, digits):
    try:
        v = decimal.Decimal(text)
    except decimal.InvalidOperation:
        raise UsageError("--%s %r is not a number" % (what, text)) from None
    if not v.is_finite() or v <= 0:
        raise UsageError("--%s must be a positive number" % what)
    q = v.quantize(decimal.Decimal(1).scaleb(-digits)) if digits else v.quantize(decimal.Decimal(1))
    if q != v:
        raise UsageError("--%s %s has more than %d decimals" % (what, text, digits))
    return format(v, "f")


@with_link
def cmd_calibrate(args, link):
    v = _decimal_arg(args.volts, "volts", 2)
    a = _decimal_arg(args.amps, "amps", 3)
    w = _decimal_arg(args.watts, "watts", 0)
    r = call(args, link, "calibrate %s %s %s" % (v, a, w), auth=True)
    lines = ["calibrated with a reference load of %s V, %s A, %s W" % (v, a, w), "", "before:"]
    lines += ["  " + s for s in _measure_lines(r.get("before", {}))]
    lines += ["after:"] + ["  " + s for s in _measure_lines(r.get("after", {}))]
    out(args, lines, r)
    return EXIT_OK


@with_link
def cmd_clock(args, link):
    if args.set is None:
        r = call(args, link, "clock")
        out(args, "%s%s" % (r.get("clock") or "not set", "" if r.get("trusted") else " (not trusted)"), r)
        return EXIT_OK
    if args.set == "now":
        iso = datetime.datetime.now().strftime("%Y-%m-%dT%H:%M:%S")
    else:
        try:
            iso = datetime.datetime.fromisoformat(args.set).strftime("%Y-%m-%dT%H:%M:%S")
        except ValueError:
            raise UsageError("--set %r: use YYYY-MM-DDTHH:MM:SS (the meter's local time) or now" % args.set) from None
    r = call(args, link, "setclock %s%s" % (iso, " force" if args.force else ""), auth=True)
    out(args, "clock set to %s" % r.get("clock"), r)
    return EXIT_OK


def _tariff_lines(r):
    t = r.get("tariff") or {}
    rows = [("tariff", t.get("name") or "(unnamed)")]
    now = r.get("now") or {}
    if now:
        rows.append(("slab now", "%s kWh at %s/kWh%s" % (
            now.get("slab"), rupees(now.get("paise_per_kwh")),
            " (%s)" % now["category"] if now.get("category") else "")))
    nxt = r.get("next")
    if nxt:
        rows.append(("next", "%s from %s" % ((nxt.get("tariff") or {}).get("name") or "(unnamed)",
                                              nxt.get("from"))))
    else:
        rows.append(("next", "none scheduled"))
    return kv_table(rows)


@with_link
def cmd_tariff(args, link):
    if args.action is None:
        r = call(args, link, "tariff")
    elif args.action == "cancel":
        r = call(args, link, "tariff cancel", auth=True)
    else:
        if not args.date or not args.file:
            raise UsageError("tariff next needs --from DATE and FILE (a TOML file with a [tariff] table)")
        import tomllib

        try:
            data = tomllib.loads(pathlib.Path(args.file).read_text())
        except (OSError, ValueError) as e:
            raise UsageError("%s: %s" % (args.file, e)) from None
        table = data.get("tariff", data)
        from tariff import Tariff  # the meter's own validator (host_tools.provisioning's path)

        try:
            Tariff.from_config(table)
        except ValueError as e:
            raise UsageError("%s [tariff] %s" % (args.file, e)) from None
        r = call(args, link, "tariff next %s %s" % (args.date, json.dumps(table, separators=(",", ":"))),
                 auth=True)
    out(args, _tariff_lines(r), r)
    return EXIT_OK


@with_link
def cmd_relay(args, link):
    if args.action is None:
        r = call(args, link, "relay")
        out(args, kv_table([("relay", r.get("relay")), ("reason", r.get("relay_reason")),
                            ("hint", r.get("hint") or "-"), ("faults", r.get("faults"))]), r)
        return EXIT_OK
    r = call(args, link, "relay %s" % args.action, auth=True)
    out(args, "relay %s (%s)" % (r.get("relay"), r.get("relay_reason")), r)
    return EXIT_OK


def cmd_dlms(args):
    """Read one COSEM object over the optical port with a standard DLMS client (Gurux)."""
    from gurux_dlms.GXDLMSException import GXDLMSException

    from host_tools import dlms

    port = args.optical_port or args.port
    if not port:
        raise UsageError("give the optical head's port: --optical-port /dev/ttyUSB1 (or $METERCTL_OPTICAL_PORT)")
    if port.startswith("/") and not os.path.exists(port):
        raise PortError("no port %s: is the optical head plugged in?%s" % (port, _port_list()))
    secrets = {}
    if args.config:
        secrets = load_config(args).sections.get("dlms", {})
    client = args.client or ("reader" if secrets.get("lls_password") else "public")
    kw = {}
    if client == "reader":
        if not secrets.get("lls_password"):
            raise UsageError("the reader client needs [dlms] lls_password in --config FILE")
        kw["password"] = secrets["lls_password"]
    elif client == "utility":
        if not secrets.get("hls_key"):
            raise UsageError("the utility client needs [dlms] hls_key in --config FILE")
        kw["hls_key"] = bytes.fromhex(secrets["hls_key"])
        if secrets.get("hls_auth_key"):
            kw["hls_auth_key"] = bytes.fromhex(secrets["hls_auth_key"])
    sap = {"public": dlms.PUBLIC, "reader": dlms.READER, "utility": dlms.UTILITY}[client]
    try:
        with dlms.DlmsSession(port, client=sap, timeout=args.timeout, **kw) as s:
            out = dlms.read_object(s, args.obis)
    except dlms.DlmsError as e:
        raise MeterError(e.code if isinstance(e.code, int) else 0, str(e)) from None
    except (GXDLMSException, ValueError) as e:
        raise MeterError(0, str(e)) from None
    except serial.SerialException as e:
        raise PortError("cannot use %s: %s" % (port, e)) from None
    if args.json:
        print(json.dumps(out, sort_keys=True, default=str))
        return 0
    print("%s  class %d  %s" % (out["obis"], out["class"], out.get("type", "")))
    for k in ("value", "scaler", "unit", "status", "columns"):
        if k in out:
            print("  %s: %s" % (k, out[k]))
    for row in out.get("rows", []):
        print("  " + "  ".join(str(v) for v in row))
    return 0


def cmd_monitor(args):
    link = open_link(args)
    n = 0
    try:
        while True:
            st = call(args, link, "status")
            ms = call(args, link, "measure")
            if args.json:
                print(json.dumps({"status": st, "measure": ms}, sort_keys=True), flush=True)
            else:
                if sys.stdout.isatty():
                    sys.stdout.write("\033[H\033[J")
                print("meter on %s  (Ctrl-C to stop)" % args.port)
                print("\n".join(_status_lines(st)))
                print("\n".join(_measure_lines(ms)))
                print(flush=True)
            n += 1
            if args.count and n >= args.count:
                return EXIT_OK
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        link.close()


# --------------------------------------------------------------------------- deploy


def _image_dir(args):
    if args.build:
        d = pathlib.Path(args.build)
        if (d / "image").is_dir():
            d = d / "image"
    else:
        d = ROOT / "build" / args.board / "image"
    if not (d / "main.py").is_file():
        raise UsageError("no compiled firmware in %s (expected main.py and lib/): run "
                         "`make build BOARD=%s` or give --build DIR" % (d, args.board))
    return d


def _image_files(image):
    files = sorted(p for p in image.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    dirs = sorted({p.parent.relative_to(image).as_posix() for p in files} - {"."}, key=lambda s: (s.count("/"), s))
    return files, dirs


def _esptool():
    for name in ("esptool.py", "esptool"):
        path = shutil.which(name)
        if path:
            return [path]
    try:
        import importlib.util

        if importlib.util.find_spec("esptool"):
            return [sys.executable, "-m", "esptool"]
    except (ImportError, ValueError):
        pass
    return None


def flash_micropython(args, firmware=None):
    firmware = pathlib.Path(firmware or args.flash_micropython)
    if args.board.startswith("sim"):
        raise UsageError("--flash-micropython is for real boards: the simulated board runs the "
                         "MicroPython unix port, there is nothing to flash")
    if not firmware.is_file():
        raise UsageError("no MicroPython firmware file %s" % firmware)
    tool = _esptool()
    shown = tool or ["esptool.py"]
    cmds = [shown + ["--chip", "esp32", "--port", args.port, "erase_flash"],
            shown + ["--chip", "esp32", "--port", args.port, "--baud", "460800", "write_flash", "-z",
                     "0x1000", str(firmware)]]
    if tool is None:
        print("esptool is not installed (pip install esptool). The commands to run are:", file=sys.stderr)
        for c in cmds:
            print("  " + " ".join(c), file=sys.stderr)
        print("then run `meterctl deploy` again without --flash-micropython.", file=sys.stderr)
        raise UsageError("esptool not installed")
    for c in cmds:
        print("running: " + " ".join(c), file=sys.stderr)
        r = subprocess.run(c)
        if r.returncode:
            raise PortError("esptool failed (exit %d)" % r.returncode)
    time.sleep(2.0)  # the board boots MicroPython


def _unlock_repl(args):
    """Ask the meter firmware to leave for the MicroPython REPL (authenticated `repl`). A board
    already at the REPL (fresh MicroPython) is fine too. Returns the firmware version or None."""
    link = open_link(args)
    try:
        try:
            info = parse_reply(link.command("info", timeout=min(args.timeout, 3.0)))
        except (LinkError, ValueError, MeterError):
            info = None
        if info is None or "firmware" not in info:
            link.send_raw(b"\r\x03\x03\x02")  # at a REPL: interrupt, leave raw mode; look for the prompt
            time.sleep(0.5)
            seen = link.serial.read(link.serial.in_waiting or 1)
            if b">>>" not in seen:
                raise PortError("no meter and no MicroPython REPL answers on %s" % args.port)
            return None
        link_key(args)
        call(args, link, "repl", auth=True)
        return info.get("firmware")
    finally:
        link.close()


def _mpremote_copy(args, image, files, dirs):
    mkdirs = "import os\nfor d in %r:\n    try:\n        os.mkdir(d)\n    except OSError:\n        pass\n" % (dirs,)
    cmd = [sys.executable, "-m", "mpremote", "connect", args.port, "resume", "exec", mkdirs]
    groups = {}
    for f in files:
        groups.setdefault(f.parent.relative_to(image).as_posix(), []).append(f)
    for d in sorted(groups, key=lambda s: (s != ".", s)):
        dest = ":" if d == "." else ":%s/" % d
        cmd += ["+", "fs", "cp"] + [str(f) for f in groups[d]] + [dest]
    bar = Progress(len(files), "deploy")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    tail = []
    assert proc.stdout is not None
    for line in proc.stdout:
        tail = (tail + [line.rstrip()])[-10:]
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "cp":  # "cp <file> <:dest>" as mpremote starts each file
            dest = parts[-1]
            bar.step(dest + os.path.basename(parts[1]) if dest.endswith((":", "/")) else dest)
    code = proc.wait()
    bar.finish()
    if code:
        raise PortError("mpremote could not copy the firmware (exit %d):\n  %s" % (code, "\n  ".join(tail)))
    return bar.done


def _soft_reset(args):
    try:
        s = open_port(args.port, timeout=1)  # VMIN=1, as every program on the port leaves it
    except serial.SerialException as e:
        raise PortError("cannot reopen %s for the soft reset: %s" % (args.port, e)) from None
    try:
        s.write(b"\r\x02")  # leave raw REPL mode, if mpremote left it there
        s.flush()
        time.sleep(0.3)
        s.write(b"\x04")  # Ctrl-D at the REPL: soft reset, boot.py and main.py run
        s.flush()
        time.sleep(0.2)
    finally:
        s.close()


def _wait_meter(args, seconds):
    """Poll `info` until the new firmware answers; its reply or None. Boot text and replies to
    polls that went unanswered are skipped by the link (each request has its own id)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            link = Link(args.port, timeout=1.0)
        except LinkError:
            time.sleep(0.5)
            continue
        try:
            while time.monotonic() < deadline:
                try:
                    info = parse_reply(link.command("info", timeout=1.0))
                except (LinkError, MeterError, ValueError):
                    continue
                if "firmware" in info:
                    return info
        finally:
            link.close()
    return None


def _deploy_frozen(args):
    """Production path: write the ESP32 firmware with the meter frozen in (esptool; the flash is
    erased, so the meter starts unprovisioned) and wait for it to answer. Nothing is copied."""
    flash_micropython(args, args.frozen)
    info = _wait_meter(args, args.boot_timeout) if args.boot_timeout > 0 else None
    if args.boot_timeout > 0 and info is None:
        raise PortError("wrote %s, but no meter answered within %.0f s: check the console "
                        "(mpremote connect %s repl)" % (args.frozen, args.boot_timeout, args.port))
    human = "wrote the frozen image %s%s" % (
        args.frozen, "; the meter runs firmware %s on board %s" % (info.get("firmware"), info.get("board")) if info else "")
    out(args, human, {"files": 0, "image": str(args.frozen), "previous_firmware": None,
                      "firmware": info.get("firmware") if info else None, "info": info})
    return EXIT_OK


def _only(image, files, names):
    """The image's files for modules `names` ("meter", "drivers.relay"): a development deploy onto a
    frozen image copies only what changed (the whole .mpy image does not fit a plain ESP32's heap)."""
    picked = []
    for name in names:
        path = image / "lib" / (name.replace(".", "/") + ".mpy")
        if path not in files:
            raise UsageError("no module %s in %s (lib/%s.mpy)" % (name, image, name.replace(".", "/")))
        picked.append(path)
    dirs = sorted({p.parent.relative_to(image).as_posix() for p in picked} - {"."}, key=lambda s: (s.count("/"), s))
    return picked, dirs


UPDATE_CHUNK = 420  # bytes per `update put` line: 560 base64 characters, well inside 600 with an id


def _probe(args):
    """The running firmware's `info`, or None when no meter firmware answers (a REPL, or nothing)."""
    try:
        link = open_link(args)
    except PortError:
        raise
    try:
        info = parse_reply(link.command("info", timeout=min(args.timeout, 3.0)))
        return info if "firmware" in info else None
    except (LinkError, ValueError, MeterError):
        return None
    finally:
        link.close()


def _link_update(args, image, files):
    """A provisioned meter: send the image over the service port with the authenticated `update`
    commands while the meter keeps metering; `update commit` installs it and restarts the meter
    (docs/link-protocol.md). Returns the number of files sent."""
    import base64
    import hashlib

    link_key(args)
    link = open_link(args)
    bar = Progress(len(files), "deploy")
    committed = False
    try:
        call(args, link, "update begin", auth=True)
        for f in files:
            rel = f.relative_to(image).as_posix()
            data = f.read_bytes()
            call(args, link, "update file %s %d %s" % (rel, len(data), hashlib.sha256(data).hexdigest()), auth=True)
            for off in range(0, len(data), UPDATE_CHUNK):
                chunk = base64.b64encode(data[off:off + UPDATE_CHUNK]).decode()
                call(args, link, "update put %d %s" % (off, chunk))
            call(args, link, "update end")
            bar.step(rel)
        call(args, link, "update commit", auth=True)
        committed = True
    finally:
        if not committed:
            try:
                link.command("update abort", key=link_key(args), timeout=min(args.timeout, 3.0))
            except Exception:  # the meter is gone or refuses: the error above is the one to report
                pass
        link.close()
    bar.finish()
    return bar.done


def cmd_deploy(args):
    if args.frozen:
        return _deploy_frozen(args)
    image = _image_dir(args)
    files, dirs = _image_files(image)
    if args.only:
        files, dirs = _only(image, files, [n for part in args.only for n in part.split(",") if n])
    if args.flash_micropython:
        flash_micropython(args)
        before = None
        running = None
    else:
        running = _probe(args)
        before = running.get("firmware") if running else None
    if running and running.get("provisioned"):
        # a provisioned meter never opens a REPL: the firmware takes the image itself
        copied = _link_update(args, image, files)
    else:
        if not args.flash_micropython:
            before = _unlock_repl(args)
        time.sleep(0.3)
        copied = _mpremote_copy(args, image, files, dirs)
        _soft_reset(args)
    info = _wait_meter(args, args.boot_timeout) if args.boot_timeout > 0 else None
    data = {"files": copied, "image": str(image), "previous_firmware": before,
            "firmware": info.get("firmware") if info else None, "info": info,
            "method": "update" if running and running.get("provisioned") else "mpremote"}
    if args.boot_timeout > 0 and info is None:
        raise PortError("copied %d files and reset the board, but no meter answered within %.0f s: "
                        "check the console (mpremote connect %s repl)" % (copied, args.boot_timeout, args.port))
    if info is None:
        human = "copied %d files from %s; soft reset sent" % (copied, image)
    else:
        human = "copied %d files from %s; the meter runs firmware %s (was %s) on board %s" % (
            copied, image, info.get("firmware"), before or "-", info.get("board"))
    out(args, human, data)
    return EXIT_OK


# --------------------------------------------------------------------------- parser


def _positive_int(text):
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not a whole number: %r" % text) from None
    if n < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return n


def build_parser():
    p = argparse.ArgumentParser(
        prog="meterctl", description="Talk to a prepaid meter on its serial service port.",
        epilog="exit codes: 0 done, 1 the meter refused, 2 usage/config error, 3 port missing, busy "
               "or not a meter. See docs/meterctl.md.")
    p.add_argument("--port", default=os.environ.get("METERCTL_PORT"),
                   help="the meter's serial port, e.g. /dev/ttyUSB0 (default $METERCTL_PORT)")
    p.add_argument("--config", default=os.environ.get("METERCTL_CONFIG"), metavar="FILE",
                   help="provisioning file; its [link] key authenticates changes (default $METERCTL_CONFIG)")
    p.add_argument("--json", action="store_true", help="print the meter's replies as JSON")
    p.add_argument("--timeout", type=float, default=5.0, metavar="S", help="seconds to wait for a reply (5)")
    p.add_argument("--debug", action="store_true",
                   help="log the link on stderr: every request, and each line skipped as stale or console text")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    q = sub.add_parser("provision", help="send a provisioning file to the meter")
    q.add_argument("file", metavar="FILE", help="provisioning file (TOML, docs/provisioning.md)")
    q.set_defaults(func=cmd_provision)

    sub.add_parser("info", help="firmware version, board, serial").set_defaults(func=cmd_info)
    sub.add_parser("status", help="balance, relay, clock, energy").set_defaults(func=cmd_status)

    q = sub.add_parser("events", help="the event log, oldest first")
    q.add_argument("-n", type=_positive_int, default=20, metavar="N", help="how many (default 20, at most 50)")
    q.set_defaults(func=cmd_events)

    q = sub.add_parser("daily", help="per-day records")
    q.add_argument("-n", type=_positive_int, default=None, metavar="N", help="only the last N days")
    q.set_defaults(func=cmd_daily)

    q = sub.add_parser("billing", help="per-month records")
    q.add_argument("-n", type=_positive_int, default=None, metavar="N", help="only the last N months")
    q.add_argument("--month", metavar="YYYY-MM", help="print that month's bill line by line")
    q.set_defaults(func=cmd_billing)

    sub.add_parser("measure", help="voltage, current, power, pf, frequency").set_defaults(func=cmd_measure)

    q = sub.add_parser("credit", help="head-end recharge (authenticated)")
    q.add_argument("rupees", metavar="RUPEES", help="amount in rupees, e.g. 500 or 499.50")
    q.add_argument("--txn", required=True, metavar="ID", help="transaction id: the meter credits each id once")
    q.set_defaults(func=cmd_credit)

    q = sub.add_parser("calibrate", help="calibrate against a known reference load (authenticated)")
    q.add_argument("--volts", required=True, metavar="V")
    q.add_argument("--amps", required=True, metavar="A")
    q.add_argument("--watts", required=True, metavar="W")
    q.set_defaults(func=cmd_calibrate)

    q = sub.add_parser("clock", help="show or set the meter's clock")
    q.add_argument("--set", metavar="ISO|now", help="YYYY-MM-DDTHH:MM:SS local time, or now (this PC's clock)")
    q.add_argument("--force", action="store_true",
                   help="allow a step larger than the meter's clock_step_limit_s")
    q.set_defaults(func=cmd_clock)

    q = sub.add_parser("tariff", help="show the tariff, or schedule the next one (authenticated)")
    q.add_argument("action", nargs="?", choices=("next", "cancel"))
    q.add_argument("file", nargs="?", metavar="FILE", help="TOML file with the next [tariff] table")
    q.add_argument("--from", dest="date", metavar="DATE",
                   help="when it takes effect: YYYY-MM-DD (00:00) or YYYY-MM-DDTHH:MM:SS, meter time")
    q.set_defaults(func=cmd_tariff)

    q = sub.add_parser("relay", help="show the relay, or open|close|auto it (authenticated)")
    q.add_argument("action", nargs="?", choices=("open", "close", "auto"))
    q.set_defaults(func=cmd_relay)

    q = sub.add_parser("deploy", help="copy a compiled firmware build to the board (a provisioned meter: "
                       "authenticated `update` over the service port; otherwise mpremote at the REPL)",
                       description="Development path: copy the board's .mpy build (build/<board>/image) to "
                       "its flash (a provisioned meter takes it over its service port with `update`, "
                       "metering on; an unprovisioned one through mpremote at the REPL); on a board running "
                       "the frozen image (docs/esp32-image.md) modules in /lib override the frozen ones, so "
                       "copy only what you changed (--only). "
                       "Production path: write the ESP32 firmware with the meter frozen in (--frozen).")
    q.add_argument("--board", default="sim", help="board whose build to copy (default sim)")
    q.add_argument("--build", metavar="DIR", help="build/<board> or its image/ folder (default build/<board>)")
    q.add_argument("--flash-micropython", metavar="FIRMWARE.bin",
                   help="real boards: first write a stock MicroPython with esptool (erases the flash)")
    q.add_argument("--frozen", metavar="FIRMWARE.bin",
                   help="real boards: write the ESP32 firmware with the meter frozen in (esptool, "
                        "erases the flash) and copy nothing")
    q.add_argument("--only", action="append", metavar="MODULE[,MODULE]",
                   help="copy only these modules' .mpy (e.g. meter,drivers.relay) onto a frozen image")
    q.add_argument("--boot-timeout", type=float, default=30.0, metavar="S",
                   help="wait this long for the new firmware to answer (0: do not wait)")
    q.set_defaults(func=cmd_deploy)

    q = sub.add_parser("monitor", help="live status, refreshed every second (Ctrl-C to stop)")
    q.add_argument("--interval", type=float, default=1.0, metavar="S")
    q.add_argument("--count", type=_positive_int, default=None, metavar="N", help="stop after N refreshes")
    q.set_defaults(func=cmd_monitor)

    q = sub.add_parser("dlms", help="read a COSEM object over the optical port (DLMS/COSEM, docs/dlms.md)")
    dsub = q.add_subparsers(dest="dlms_command", metavar="ACTION")
    dsub.required = True
    r = dsub.add_parser("read", help="read one object by its OBIS code, e.g. 1.0.1.8.0.255")
    r.add_argument("obis", metavar="OBIS", help="logical name a.b.c.d.e.f")
    r.add_argument("--optical-port", default=os.environ.get("METERCTL_OPTICAL_PORT"), metavar="DEV",
                   help="the optical head's serial port (default $METERCTL_OPTICAL_PORT, else --port)")
    r.add_argument("--client", choices=("public", "reader", "utility"),
                   help="association: public (0x10), reader (0x20, LLS) or utility (0x30, HLS); "
                        "default reader when --config has [dlms] lls_password")
    r.set_defaults(func=cmd_dlms)

    tokens.register(sub)
    simulate.register(sub)
    return p


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.debug:
        logging.basicConfig(stream=sys.stderr, format="meterctl: %(name)s: %(message)s")
        logging.getLogger("host_tools.link").setLevel(logging.DEBUG)
    try:
        return args.func(args)
    except UsageError as e:
        print("meterctl: error: %s" % e, file=sys.stderr)
        return _json_error(args, EXIT_USAGE, "usage", str(e))
    except PortError as e:
        print("meterctl: %s" % e, file=sys.stderr)
        return _json_error(args, EXIT_PORT, "port", str(e))
    except MeterError as e:
        print("meterctl: the meter refused: ERR %d %s%s" % (e.code, e.message, _hint(e.code)), file=sys.stderr)
        return _json_error(args, EXIT_REFUSED, "refused", e.message, e.code)
    except KeyboardInterrupt:
        return 130


def _json_error(args, code, kind, message, meter_code=None):
    """With --json, scripts also get the failure on stdout: {"error": {...}}."""
    if getattr(args, "json", False):
        err = {"kind": kind, "message": message, "exit": code}
        if meter_code is not None:
            err["code"] = meter_code
        print(json.dumps({"error": err}, sort_keys=True))
    return code


def _hint(code):
    return {
        401: " (the command needs authentication)",
        403: " (wrong link key in the config file, or a stale/replayed request)",
        409: "",
        423: " (too many failed authentications: wait and retry)",
        503: " (provision the meter first: meterctl provision FILE)",
    }.get(code, "")


if __name__ == "__main__":
    sys.exit(main())
