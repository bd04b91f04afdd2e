"""The consumer's front panel (a view): keys in, actions out, results on the LCD and the buzzer.

The UI state machine (ui.py) turns key presses into requests (a token, emergency credit, an
overload acknowledge); this module hands each to the action layer and shows what came back.
It also shows what happened without a key: a remote credit, a balance alert, an internal error.
"""
from refusal import Refused


class FrontPanel:
    def __init__(self, keypad, buzzer, ui, actions, domain):
        self.keypad = keypad
        self.buzzer = buzzer
        self.ui = ui
        self.act = actions
        self.d = domain  # read only
        self.key_delay = None
        self.buzz_delay = None
        actions.on_credit = self.show_credit

    def poll(self, now):
        """Read the keypad and act on each key; errors go up to the loop's boundary."""
        kp = self.keypad
        self.key_delay = kp.poll(now)
        while True:
            name = kp.get()
            if name is None:
                break
            self.buzzer.play("click", now)
            self._on_key(name, now)
        self.buzz_delay = self.buzzer.poll(now)

    def _on_key(self, name, now):
        request = self.ui.key(name, now)
        if request is None:
            return
        ui = self.ui
        if request[0] == "token":
            self.enter_token(request[1], now)
        elif request[0] == "emergency":
            try:
                grant = self.act.emergency("keypad")
                ui.result("emergency_granted", now, grant["granted"])
            except Refused as e:
                ui.result("emergency_refused", now, detail=e.message)
        elif request[0] == "ack_overload":
            if self.act.acknowledge_overload():
                ui.result("ack_ok", now)

    def enter_token(self, digits, now):
        """A token from the keypad or the link (`token`): one path, one lockout. Shows the result
        on the LCD and returns (kind, paise, detail)."""
        if not self.d.provisioned():  # no decoder key of its own: the default key is public
            self.ui.result("invalid", now, detail="meter not set up")
            return "invalid", None, {"why": "meter not set up"}
        # a lost clock does not stop tokens: anti-replay runs on TIDs, and an authenticated
        # token's issue time becomes the clock's estimate (recharge.py)
        kind, paise, detail = self.act.token(digits)
        self.buzzer.play("accept" if kind == "accepted" else "error", now)
        if kind == "locked":
            shown = self.d.recharge.locked_s()
        elif kind in ("invalid", "range") and isinstance(detail, dict):
            shown = detail.get("why")
        elif isinstance(detail, str):
            shown = detail
        else:
            shown = None
        self.ui.result(kind, now, paise, shown)
        return kind, paise, detail

    def show_credit(self, paise):
        self.ui.result("accepted", self.d.clock.ticks_ms(), paise)

    def alerts(self, alerts, now):
        for alert in alerts:
            pct = alert.get("percent")
            self.ui.notify("Balance %d%% left" % pct if pct else "Balance used up", now)
            self.buzzer.play("alert_zero" if not pct else "alert_low", now)

    def error(self, now):
        """An internal error while serving a key: say so, the meter goes on."""
        self.ui.result("Error", now, detail="Try again")
        self.buzzer.play("error", now)
