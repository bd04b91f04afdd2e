"""The consumer's display (a view): fills the UI's view from the domain and drives the LCD.

The UI state machine (ui.py) decides what the screens say; this module gathers the values they
show (balance, energy, load, relay, flags, tariff, month so far, events) and sends the LCD only
what changed, since the meter refreshes the display at every wake-up.
"""


class Display:
    def __init__(self, domain, ui, lcd):
        self.d = domain  # read only: the display never changes the meter
        self.ui = ui
        self.view = ui.view
        self.lcd = lcd
        self._shown = (None, None)  # the two LCD lines last sent to the glass

    def fill_view(self):
        """The values every screen may show, from the services that own them."""
        mt = self.d
        v = self.view
        m = mt.metering.measurements
        acct = mt.account
        now_s = mt.now_s()
        v.now_s = now_s
        v.provisioned = mt.provisioned()
        v.balance_paise = acct.balance_paise
        v.import_mwh = mt.metering.import_mwh
        v.export_mwh = mt.metering.export_mwh
        v.power_w = m.power_w
        v.volts_cv = m.volts_cv
        v.current_ma = m.current_ma
        last = acct.last_credit
        v.last_credit_paise, v.last_credit_s = last[0], last[1]
        v.arrears_paise = acct.arrears_paise
        v.days_remaining = acct.days_remaining()
        v.serial = mt.section("meter")["serial"]
        v.relay_closed = mt.relay.closed()
        v.relay_reason = mt.policy.reason if v.provisioned else "none"
        v.hint = mt.policy.screen_hint(now_s) if v.provisioned else ""
        v.overload_retry_s = mt.policy.overload_retry_s(now_s) if v.provisioned else None
        flags = []
        if now_s is None or not mt.clock_trusted:
            flags.append("CLOCK")
        if mt.relay.fault:
            flags.append("RELAY FAULT")
        if mt.policy.reason == "tamper":
            flags.append("TAMPER")
        v.flags = flags
        v.emergency_available = acct.emergency_credit_paise > 0 and not acct.emergency_active and \
            acct.balance_paise <= acct.emergency_threshold()
        v.emergency_active = acct.emergency_active
        v.keypad_locked_s = mt.recharge.locked_s()  # runs on the meter's running time, not its RTC

    def fill_info(self):
        """The slower info pages (tariff, month, events), filled only when the menu shows them."""
        mt = self.d
        v = self.view
        acct = mt.account
        v.tariff_lines = acct.tariff.rate_lines()  # published rates, no rebate folded in
        now = acct.slab_now()
        v.slab_label, v.slab_rate_paise = now["slab"], now["paise_per_kwh"]
        v.last_bill = acct.last_bill()
        month = acct.current_month()
        v.month_mwh = month["import_mwh"]
        v.month_charges_paise = month["total_paise"]
        v.recent_events = [(e["t"], e["code"]) for e in reversed(mt.journal.last(5))]
        v.overload_text = mt.policy.screen_hint(mt.now_s()) if mt.policy.reason.startswith("overload") else "No overload"

    def refresh(self, now):
        """Render the UI for `now` and send the LCD only what changed."""
        ui = self.ui
        self.fill_view()
        if ui.wants_info():
            self.fill_info()
        l1, l2 = ui.render(now)
        lcd = self.lcd
        if l1 != self._shown[0] or l2 != self._shown[1] or not lcd.ok:
            lcd.show(l1, l2)  # only changed characters go out, but finding them costs every wake
            self._shown = (l1, l2) if lcd.ok else (None, None)
        on = ui.backlight(now)
        if on != lcd.backlight() or not lcd.ok:
            lcd.backlight(on)  # an I2C write: only when the backlight changes

