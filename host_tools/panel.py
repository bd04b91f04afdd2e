"""The simulated meter's front panel, in a terminal (Textual): `make sim`.

    python -m host_tools.panel --board sim --state-dir state/sim --config examples/meter.toml

The LCD as the device shows it (rupee, relay and note glyphs), a clickable 4x4 keypad (keyboard:
digits, Enter, Backspace, arrows, `m` MENU, `f` FN), relay and tamper indicators, load and mains
controls, the virtual clock (pause, 1x, 60x, 3600x; +1 h/day/week or a date to jump to), power
cut/restore, balance and energy strip charts, and the service-link traffic with a line to type
commands on. It drives the meter only through the bench and the link, as a test does.

One worker thread owns the simulated meter; the screen only queues requests to it. A long jump
runs in slices with a progress bar and can be cancelled; keys pressed meanwhile reach the keypad
between slices, so the screen never freezes.
"""
import argparse
import datetime
import queue
import threading
import time

from textual import work
from textual.app import App, ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.widgets import Button, Footer, Input, Label, ProgressBar, RichLog, Sparkline, Static

from host_tools.hil import BenchError, MeterError, SimulatedMeter
from host_tools.link import LinkError

GLYPHS = {"\x00": "₹", "\x01": "■", "\x02": "□", "\x03": "⌁", "\x04": "♪"}
KEYPAD = (  # front view, as firmware/drivers/keypad.py lays it out
    "1", "2", "3", "UP",
    "4", "5", "6", "DOWN",
    "7", "8", "9", "MENU",
    "BACK", "0", "ENTER", "FN",
)
KEY_LABELS = {"UP": "▲", "DOWN": "▼", "BACK": "◀ BACK", "ENTER": "ENTER ⏎"}
KEYBOARD = {"enter": "ENTER", "backspace": "BACK", "up": "UP", "down": "DOWN", "m": "MENU", "f": "FN"}
SPEEDS = (0, 1, 60, 3600)
JUMPS = {"hour": 3600, "day": 86400, "week": 7 * 86400, "minute": 60}
SLICE_WALL_S = 0.2  # a jump advances in slices of about this much wall time
HISTORY = 240  # strip-chart samples kept


def lcd_text(line):
    return "".join(GLYPHS.get(c, c) for c in line)


class MeterWorker:
    """Owns the SimulatedMeter in one thread: runs virtual time, serves the screen's requests,
    and hands back snapshots of what the meter shows. Nothing else touches the meter."""

    def __init__(self, meter, speed=1, publish=None):
        self.m = meter
        self.speed = speed
        self.load = 0
        self.mains = 230.0
        self.requests = queue.Queue()
        self.publish = publish or (lambda kind, data: None)
        self.cancel_jump = threading.Event()
        self.stopping = False
        self.jumping = False
        self._notices = 0  # boot banners and notices already shown in the traffic pane

    # -- what the screen asks for (any thread) ------------------------------------------------
    def ask(self, op, *args):
        self.requests.put((op, args))

    # -- the worker thread --------------------------------------------------------------------
    def run(self):
        last = time.monotonic()
        next_status = 0.0
        while not self.stopping:
            try:
                op, args = self.requests.get(timeout=0.05)
                self._serve(op, args)
            except queue.Empty:
                pass
            now = time.monotonic()
            if self.speed and self.m.powered:
                self._advance(min(now - last, 1.0) * self.speed)
            last = now
            if now >= next_status:
                self.publish("state", self.snapshot())
                next_status = now + 0.25

    def _serve(self, op, args):
        b = self.m.bench
        try:
            if op == "key":
                if self.m.powered:
                    b.press(args[0])
            elif op == "load":
                self.load = args[0]
                b.set_load(self.load)
            elif op == "mains":
                self.mains = args[0]
                b.set_mains(self.mains)
            elif op == "speed":
                self.speed = args[0]
            elif op == "power":
                if self.m.powered:
                    b.power_cut()
                    self.publish("note", "mains cut: the meter saved its state and is off")
                else:
                    b.power_restore()  # the bench re-applies the household's load
                    self.publish("note", "mains restored")
            elif op == "jump":
                self._jump(*args)
            elif op == "command":
                self._command(args[0])
            elif op == "stop":
                self.stopping = True
            self.publish("state", self.snapshot())
        except (BenchError, MeterError, LinkError, OSError) as e:
            self.publish("note", "%s: %s" % (op, e))

    def _advance(self, seconds):
        if seconds > 0:
            self.m.bench.advance(seconds)

    def _jump(self, seconds, ticket=0):
        """Advance `seconds` of virtual time in slices sized to SLICE_WALL_S of wall time,
        publishing progress; keys and cancel are served between slices. Publishes ("jumped",
        ticket) once the screen shows where the jump ended."""
        self.cancel_jump.clear()
        later = []  # jumps asked for meanwhile: one at a time, in order
        self.jumping = True
        seconds = int(seconds)
        done = 0
        step = 60
        shown = time.monotonic()
        try:
            while done < seconds and not self.cancel_jump.is_set():
                s = min(step, seconds - done)
                t0 = time.monotonic()
                self._advance(s)
                done += s
                took = time.monotonic() - t0
                # aim each slice at SLICE_WALL_S of wall time, whatever the load makes it cost
                step = int(max(60, min(6 * 3600, s * SLICE_WALL_S / max(took, 1e-3))))
                self.publish("progress", (done, seconds))
                while True:
                    try:
                        op, args = self.requests.get_nowait()
                    except queue.Empty:
                        break
                    if op == "jump":
                        later.append(args)
                        continue
                    self._serve(op, args)
                if time.monotonic() >= shown + 0.25:  # the screen, not every slice: reads cost
                    self.publish("state", self.snapshot())
                    shown = time.monotonic()
        finally:
            self.jumping = False
            self.publish("state", self.snapshot())  # the screen is current when the bar is full
            self.publish("progress", (done, seconds))
            if self.cancel_jump.is_set():
                self.publish("note", "jump cancelled after %s" % datetime.timedelta(seconds=int(done)))
            self.publish("jumped", ticket)
        for args in later:
            self._jump(*args)

    def _command(self, line):
        """A technician's command typed on the panel: changes are signed with the meter's key."""
        self.publish("traffic", "> " + line)
        name = line.split()[0] if line.split() else ""
        try:
            if self.m.key is not None and name not in ("help", "info", "status", "measure", "energy",
                                                       "account", "events", "daily", "billing", "clock",
                                                       "challenge") and not (name == "relay" and line == "relay"):
                reply = self.m.link.call(line, key=self.m.key)
                self.publish("traffic", "< OK %s" % reply)
            else:
                self.publish("traffic", "< " + self.m.link.command(line))
        except MeterError as e:
            self.publish("traffic", "< %s" % e)

    def snapshot(self):
        """What the panel shows, read through the bench and the link."""
        m = self.m
        snap = {"powered": m.powered, "speed": self.speed, "load": self.load, "mains": self.mains,
                "jumping": self.jumping, "lines": ["", ""], "relay": None, "status": {}}
        if not m.powered:
            snap["clock"] = m.bench.now()
            return snap
        b = m.bench
        snap["lines"] = b.lcd()
        snap["relay"] = b.relay_closed()
        try:
            snap["status"] = m.link.call("status")
        except MeterError as e:
            snap["error"] = str(e)
        for n in m.link.notices[self._notices:]:
            self.publish("traffic", n)
        self._notices = len(m.link.notices)
        return snap


class KeyButton(Button):
    """A panel button where every click counts. (Textual's Button ignores a click while its
    0.2 s press animation runs, which dropped the second of two equal digits typed quickly, and
    the second of two +500 W clicks.)"""

    async def _on_click(self, event):
        event.stop()
        self.press()


class Lcd(Static):
    """The 16x2 character LCD, glyphs drawn as the device's custom characters look."""

    def show(self, lines, backlit=True):
        rows = [lcd_text(lines[i] if i < len(lines) else "").ljust(16)[:16] for i in range(2)]
        self.update("\n".join(rows))


class PanelApp(App):
    """The front panel: see the module docstring."""

    CSS = """
    Screen { layout: horizontal; }
    #front { width: 62; padding: 0 1; }
    #side { width: 1fr; border-left: solid $accent; padding: 0 1; }
    Lcd { width: 20; height: 4; border: round green; background: #0a3d0a; color: #b8ff9c;
          padding: 0 1; margin: 1 0 0 0; }
    #keypad { grid-size: 4 4; grid-gutter: 0 1; width: 48; height: 12; margin: 1 0; }
    #keypad Button { width: 11; min-width: 5; height: 3; }
    .row { height: 3; }
    .row Button { min-width: 6; margin-right: 1; }
    .row Label { padding: 1 1 0 0; }
    #indicators { height: auto; }
    #progress { margin: 0 0 1 0; }
    #jump-to { width: 34; }
    Sparkline { height: 2; }
    #traffic { height: 1fr; }
    #note { color: $warning; height: 2; }
    """
    BINDINGS = [("ctrl+q", "quit_panel", "quit"), ("p", "power", "power cut/restore"),
                ("+", "load(500)", "+500 W"), ("-", "load(-500)", "-500 W"),
                ("s", "next_speed", "speed"), ("escape", "cancel_jump", "cancel jump")]

    def __init__(self, meter=None, speed=1, **meter_kw):
        super().__init__()
        self._meter = meter
        self._meter_kw = meter_kw
        self.worker = None
        self.state = None
        self.balance = []
        self.energy = []
        self.traffic_lines = []
        self.start_speed = speed
        self.progress = (0.0, 0.0)
        self.jumps_asked = 0
        self.jumps_done = 0  # the ticket of the last jump that finished (or was cancelled)

    # -- layout -------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Vertical(id="front"):
            yield Label("Prepaid meter (simulated)", id="title")
            yield Lcd("starting ...", id="lcd")
            with Grid(id="keypad"):
                for k in KEYPAD:
                    yield KeyButton(KEY_LABELS.get(k, k), id="key-" + k, classes="key")
            yield Static("", id="indicators")
            with Horizontal(classes="row"):
                yield Label("load")
                yield KeyButton("-500 W", id="load-down")
                yield KeyButton("+500 W", id="load-up")
                yield KeyButton("off", id="load-off")
                yield Label("mains")
                yield KeyButton("-10 V", id="mains-down")
                yield KeyButton("+10 V", id="mains-up")
            with Horizontal(classes="row"):
                yield Label("clock")
                for s in SPEEDS:
                    yield KeyButton("pause" if s == 0 else "%dx" % s, id="speed-%d" % s)
                yield KeyButton("power", id="power", variant="error")
            with Horizontal(classes="row"):
                yield Label("jump")
                for name in ("hour", "day", "week"):
                    yield KeyButton("+1 " + name, id="jump-" + name)
                yield KeyButton("cancel", id="cancel")
            with Horizontal(classes="row"):
                yield Label("to  ")
                yield Input(placeholder="YYYY-MM-DD HH:MM, then Enter", id="jump-to")
            yield ProgressBar(total=100, show_eta=False, id="progress")
            yield Label("balance (Rs)")
            yield Sparkline([0], id="balance-chart")
            yield Label("energy imported (kWh)")
            yield Sparkline([0], id="energy-chart")
            yield Static("", id="note")
        with Vertical(id="side"):
            yield Label("service link (type a command; changes are signed with the meter's key)")
            yield RichLog(id="traffic", wrap=True, max_lines=500)
            yield Input(placeholder="status | events 5 | credit 10000 T1 | relay open ...", id="command")
        yield Footer()

    def on_mount(self):
        self.drive()

    def on_unmount(self):
        """However the app ends, the worker stops and the meter powers down cleanly."""
        if self.worker is not None:
            self.worker.cancel_jump.set()
            self.worker.stopping = True

    # -- the worker ---------------------------------------------------------------------------
    @work(thread=True, exclusive=True)
    def drive(self):
        meter = self._meter
        own = meter is None
        if own:
            meter = SimulatedMeter(**self._meter_kw)
            self.call_from_thread(self._note, "starting the simulated meter ...")
            meter.start()
        w = MeterWorker(meter, self.start_speed, publish=self._publish)
        self.worker = w
        self.call_from_thread(self._note, "keys: digits, Enter, Backspace, arrows, m MENU, f FN (or click)")
        self.call_from_thread(self._traffic, "# service port %s (meterctl --port %s status)" % (
            meter.port, meter.port))
        optical = getattr(meter, "optical_port", None)
        if optical:
            self.call_from_thread(self._traffic, "# optical port (DLMS) %s (meterctl --port %s dlms read ...)" % (
                optical, optical))
        try:
            w.run()
        finally:
            if own:
                meter.stop()

    def _publish(self, kind, data):
        if self.is_running:
            try:
                self.call_from_thread(self._receive, kind, data)
            except RuntimeError:
                pass  # the app is shutting down

    def _receive(self, kind, data):
        if kind == "state":
            self._show(data)
        elif kind == "progress":
            done, total = data
            self.progress = data
            bar = self.query_one("#progress", ProgressBar)
            bar.update(total=max(total, 1), progress=done)
        elif kind == "jumped":
            self.jumps_done = max(self.jumps_done, data)
        elif kind == "note":
            self._note(data)
        elif kind == "traffic":
            self._traffic(data)

    # -- what the screen shows ----------------------------------------------------------------
    def _show(self, snap):
        self.state = snap
        s = snap["status"]
        self.query_one(Lcd).show(snap["lines"])
        if not snap["powered"]:
            relay = "no power (mains cut)"
        else:
            relay = "CLOSED: supply on" if snap["relay"] else "OPEN: supply cut (%s)" % s.get("relay_reason", "?")
        tamper = s.get("tamper") or s.get("tampers") or ("yes" if s.get("relay_reason") == "tamper" else "none")
        rows = [
            "relay   %s" % relay,
            "tamper  %s" % (tamper if isinstance(tamper, str) else ", ".join(map(str, tamper)) or "none"),
            "clock   %s   %s" % (s.get("clock", snap.get("clock", "-")),
                                "paused" if not snap["speed"] else "%dx" % snap["speed"]),
            "load    %d W applied, %s W metered; mains %.0f V" % (snap["load"], s.get("power_w", "-"),
                                                                   snap["mains"]),
            "balance Rs %.2f   arrears Rs %.2f   days left %s" % (
                s.get("balance_paise", 0) / 100, s.get("arrears_paise", 0) / 100,
                s.get("days_remaining", "-")),
            "energy  import %.3f kWh   export %.3f kWh" % (s.get("energy_import_mwh", 0) / 1e6,
                                                         s.get("energy_export_mwh", 0) / 1e6),
        ]
        self.query_one("#indicators", Static).update("\n".join(rows))
        if s:
            self.balance = (self.balance + [s["balance_paise"] / 100])[-HISTORY:]
            self.energy = (self.energy + [s["energy_import_mwh"] / 1e6])[-HISTORY:]
            self.query_one("#balance-chart", Sparkline).data = self.balance
            self.query_one("#energy-chart", Sparkline).data = self.energy

    def _note(self, text):
        self.query_one("#note", Static).update(text)

    def _traffic(self, line):
        self.traffic_lines.append(line)
        self.query_one("#traffic", RichLog).write(line)

    # -- input --------------------------------------------------------------------------------
    def _ask(self, op, *args):
        if self.worker is not None:
            self.worker.ask(op, *args)

    def on_button_pressed(self, event):
        bid = event.button.id or ""
        if bid.startswith("key-"):
            self._ask("key", bid[4:])
        elif bid.startswith("speed-"):
            self._ask("speed", int(bid[6:]))
        elif bid.startswith("jump-"):
            self.jump(JUMPS[bid[5:]])
        elif bid == "cancel":
            self.action_cancel_jump()
        elif bid == "power":
            self.action_power()
        elif bid in ("load-up", "load-down"):
            self.action_load(500 if bid == "load-up" else -500)
        elif bid == "load-off":
            self.set_load(0)
        elif bid in ("mains-up", "mains-down"):
            mains = self.worker.mains if self.worker else 230.0
            self._ask("mains", max(0.0, mains + (10 if bid == "mains-up" else -10)))

    def on_input_submitted(self, event):
        text = event.value.strip()
        event.input.value = ""
        if event.input.id == "command" and text:
            self._ask("command", text)
        elif event.input.id == "jump-to" and text:
            self.jump_to(text)

    def on_key(self, event):
        if isinstance(self.focused, Input):
            return
        key = event.key
        if key in KEYBOARD:
            self._ask("key", KEYBOARD[key])
        elif len(key) == 1 and key.isdigit():
            self._ask("key", key)
        else:
            return
        event.stop()

    # -- actions ------------------------------------------------------------------------------
    def jump(self, seconds):
        """Ask for a jump of `seconds`; returns its ticket (jumps_done reaches it when done)."""
        self.jumps_asked += 1
        self.query_one("#progress", ProgressBar).update(total=max(seconds, 1), progress=0)
        self._note("jumping %s ahead (escape or cancel stops it)" % datetime.timedelta(seconds=seconds))
        self._ask("jump", seconds, self.jumps_asked)
        return self.jumps_asked

    def jump_to(self, text):
        try:
            when = datetime.datetime.strptime(text, "%Y-%m-%d %H:%M")
        except ValueError:
            self._note("jump: give the date as YYYY-MM-DD HH:MM")
            return
        now = datetime.datetime.fromisoformat(self.state["status"]["clock"]) if self.state and \
            self.state["status"].get("clock") else None
        if now is None or when <= now:
            self._note("jump: %s is not ahead of the meter's clock" % text)
            return
        self.jump(int((when - now).total_seconds()))

    def set_load(self, watts):
        self._ask("load", watts)

    def action_load(self, delta):
        cur = self.worker.load if self.worker else 0
        self.set_load(max(0, cur + int(delta)))

    def action_power(self):
        self._ask("power")

    def action_next_speed(self):
        cur = self.worker.speed if self.worker else 0
        self._ask("speed", SPEEDS[(SPEEDS.index(cur) + 1) % len(SPEEDS)] if cur in SPEEDS else 1)

    def action_cancel_jump(self):
        if self.worker is not None:
            self.worker.cancel_jump.set()

    def action_quit_panel(self):
        if self.worker is not None:
            self.worker.cancel_jump.set()
            self.worker.ask("stop")
        self.exit()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--board", default="sim", choices=("sim", "sim_bl0942"))
    ap.add_argument("--state-dir", default="state/sim", help="flash image and clock of this meter")
    ap.add_argument("--config", default=None, help="provisioning file to apply at start")
    args = ap.parse_args(argv)
    # a new state folder's clock starts at the host's local time; an existing one keeps its own
    start = datetime.datetime.now().replace(microsecond=0)
    app = PanelApp(state_dir=args.state_dir, board=args.board, config=args.config, clock=start)
    app.run()
    print("meter stopped; its flash and clock are kept in %s" % args.state_dir)


if __name__ == "__main__":
    main()
