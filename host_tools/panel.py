"""The simulated meter's front panel: what the meter shows and does, in a terminal.

    python -m host_tools.panel --board sim --state-dir state/sim --config examples/meter.toml

Shows the LCD (16x2, with the rupee and relay glyphs), relay contacts, load, mains, clock,
balance and energy; keys typed go to the meter's keypad. Virtual time runs at the chosen speed
(1x real time by default). The meter's service port is printed so meterctl can talk to it:
`python -m host_tools.meterctl --port <that pty> status`.
"""
import argparse
import curses
import time

from host_tools.hil import BenchError, MeterError, SimulatedMeter, parse_reply

GLYPHS = {"\x00": "₹", "\x01": "■", "\x02": "□", "\x03": "⌁", "\x04": "♪"}
KEYMAP = {
    ord("\n"): "ENTER", curses.KEY_ENTER: "ENTER", 10: "ENTER", 13: "ENTER",
    curses.KEY_BACKSPACE: "BACK", 127: "BACK", 8: "BACK", ord("b"): "BACK",
    curses.KEY_UP: "UP", curses.KEY_DOWN: "DOWN", ord("m"): "MENU", ord("f"): "FN",
}
SPEEDS = (1, 60, 3600)
HELP = [
    "keys: 0-9 digits  Enter=ENTER  Backspace/b=BACK  arrows=UP/DOWN  m=MENU  f=FN",
    "load: +/- 500 W  z no load  e export 1 kW     time: s speed  h +1 hour  d +1 day",
    "power: p cut/restore                        q quit (the meter saves; state is kept)",
]


def lcd_text(line):
    return "".join(GLYPHS.get(c, c) for c in line)


class Panel:
    def __init__(self, meter):
        self.m = meter
        self.load = 0
        self.speed_i = 0
        self.status = {}
        self.message = ""
        self.lines = ["", ""]
        self.relay = None

    def refresh_state(self):
        b = self.m.bench
        if not self.m.powered:
            self.lines = ["", ""]
            return
        self.lines = b.lcd()
        self.relay = b.relay_closed()
        try:
            self.status = parse_reply(self.m.link.command("status"))
        except MeterError as e:
            self.message = str(e)

    def key(self, ch):
        b = self.m.bench
        if ch in KEYMAP:
            b.press(KEYMAP[ch])
        elif ord("0") <= ch <= ord("9"):
            b.press(chr(ch))
        elif ch in (ord("+"), ord("=")):
            self.set_load(self.load + 500)
        elif ch == ord("-"):
            self.set_load(max(0, self.load - 500))
        elif ch == ord("e"):
            self.set_load(-1000)
        elif ch == ord("z"):
            self.set_load(0)
        elif ch == ord("s"):
            self.speed_i = (self.speed_i + 1) % len(SPEEDS)
        elif ch == ord("h"):
            b.advance(3600)
        elif ch == ord("d"):
            b.advance(86400)
        elif ch == ord("p"):
            if self.m.powered:
                b.power_cut()
                self.message = "mains cut: the meter saved its state and is off"
            else:
                b.power_restore()
                b.set_load(self.load)  # the household's appliances are still switched on
                self.message = "mains restored"

    def set_load(self, watts):
        self.load = watts
        self.m.bench.set_load(watts)

    def draw(self, scr):
        scr.erase()
        s = self.status
        scr.addstr(0, 0, "Prepaid meter (simulated)  port: %s  optical: %s" % (self.m.port, self.m.optical_port))
        scr.addstr(2, 2, "+" + "-" * 16 + "+")
        for i in range(2):
            scr.addstr(3 + i, 2, "|" + lcd_text(self.lines[i] if i < len(self.lines) else "").ljust(16)[:16] + "|")
        scr.addstr(5, 2, "+" + "-" * 16 + "+")
        relay = "no power" if not self.m.powered else ("CLOSED (supply on)" if self.relay else "OPEN (supply cut)")
        rows = [
            "relay    %s   reason: %s" % (relay, s.get("relay_reason", "-")),
            "clock    %s   speed: %dx" % (s.get("clock", "-"), SPEEDS[self.speed_i]),
            "load     %d W applied, %s W metered" % (self.load, s.get("power_w", "-")),
            "energy   import %.3f kWh   export %.3f kWh" % (s.get("energy_import_mwh", 0) / 1e6,
                                                           s.get("energy_export_mwh", 0) / 1e6),
            "balance  Rs %.2f   arrears Rs %.2f" % (s.get("balance_paise", 0) / 100, s.get("arrears_paise", 0) / 100),
        ]
        for i, r in enumerate(rows):
            scr.addstr(7 + i, 2, r)
        for i, h in enumerate(HELP):
            scr.addstr(13 + i, 0, h)
        if self.message:
            scr.addstr(17, 0, self.message[:200])
        scr.refresh()

    def run(self, scr):
        curses.curs_set(0)
        scr.timeout(250)
        last = time.monotonic()
        while True:
            self.refresh_state()
            self.draw(scr)
            ch = scr.getch()
            if ch == ord("q"):
                return
            try:
                if ch != -1:
                    self.key(ch)
                now = time.monotonic()
                self.m.bench.advance((now - last) * SPEEDS[self.speed_i])
                last = now
            except BenchError as e:
                self.message = str(e)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--board", default="sim", choices=("sim", "sim_bl0942"))
    ap.add_argument("--state-dir", default="state/sim", help="flash image and clock of this meter")
    ap.add_argument("--config", default=None, help="provisioning file to apply at start")
    args = ap.parse_args(argv)
    print("starting the simulated meter (board %s, state in %s) ..." % (args.board, args.state_dir))
    with SimulatedMeter(state_dir=args.state_dir, board=args.board, config=args.config) as m:
        print("service port: %s  optical port (DLMS): %s" % (m.port, m.optical_port))
        curses.wrapper(Panel(m).run)
    print("meter stopped; its flash and clock are kept in %s" % args.state_dir)


if __name__ == "__main__":
    main()
