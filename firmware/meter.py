"""The meter: builds its parts and hands each only what it needs (docs/architecture.md).

    domain.py   what the meter knows and its rules (metering, account, policy, tokens, hot state)
    actions.py  the one path for every change (validate, apply, one event, one commit)
    loop.py     what runs when, sleep, watchdog, the error boundary
    views       display.py + front.py (LCD, keypad, buzzer), commands.py (link replies)
"""
import binascii

import commands
from actions import Actions
from auth import LinkAuth
from display import Display
from domain import JOURNAL_PERIOD_MS, SAVE_PERIOD_MS, Domain, Journal  # noqa: F401  (periods: for tests)
from front import FrontPanel
from link import Link
from loop import Loop, Service
from store import Log, Store
from ui import UI, MeterView

VERSION = "0.4.0"


class Meter:
    def __init__(self, board, urandom):
        self.board = board
        self.reset_cause = "power_on"
        store = Store(board.fs_root.rstrip("/") + "/data")
        lk = store.load("linkkey")
        key = binascii.unhexlify(lk["key"]) if lk else None
        self.auth = LinkAuth(board.clock, urandom, key, lk["seq"] if lk else 0)
        if lk:
            self.auth.restore(lk)  # sequence, wrong-MAC count and lockout survive resets
        self.journal = Journal(Log(store, "events", 400), board.rtc.seconds, board.clock.ticks_ms)
        self.domain = d = Domain(board, store, self.journal, self.auth)
        self.actions = Actions(d)
        self.ui = UI(MeterView())
        self.journal.on_event = lambda code, detail: self.ui.wake(board.clock.ticks_ms())
        self.front = FrontPanel(board.keypad, board.buzzer, self.ui, self.actions, d)
        self.display = Display(d, self.ui, board.lcd)
        self.link = Link(board.link, self.auth, None)
        self.loop = Loop(board, d, self.actions, self.link, self.front, self.display)
        self.link.on_error = self.loop.internal_error
        self.ui.on_error = self.loop.internal_error  # an error inside a screen: an event, never a crash
        if getattr(board, "optical", None) is not None:
            import gc

            gc.collect()  # the DLMS server is the largest load: start it on a compacted heap
            try:
                from dlms.port import attach

                self.loop.dlms = attach(d, self.actions, self.journal.records, board, VERSION, urandom,
                                        self.loop.internal_error)
            except MemoryError as e:  # the meter meters without its optical port, never not at all
                gc.collect()
                self.loop.internal_error("dlms start", e)
        self.link.commands = commands.table(d, self.actions, Service(board, self.loop, self.actions, d))

    def run(self):
        self.loop.run(VERSION, self.reset_cause)
