"""The front panel (`make sim`) driven headless with Textual's pilot, as a person uses it: wait for
the cut, type a recharge token on the keypad, see the balance rise and the relay close, jump a
week with a progress bar while the screen keeps answering, raise the load until it trips."""
import asyncio
import datetime
import pathlib
import time

from host_tools import provisioning
from host_tools import sts as hsts
from host_tools.hil.bench import to_seconds
from host_tools.panel import PanelApp
from tests.hil._helpers import sim_only

CONFIG = str(pathlib.Path(__file__).resolve().parents[2] / "examples" / "meter.toml")
KEY = provisioning.load(CONFIG).sts_key


_sim_only = sim_only("the front panel drives the simulated board")


async def until(pilot, cond, what, timeout=240.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        await pilot.pause(0.05)
    raise AssertionError("panel never showed: %s (LCD %r)" % (what, pilot.app.state and pilot.app.state["lines"]))


def shown(app, wid):
    return str(app.query_one(wid).render())


async def jump(app, pilot, seconds):
    ticket = app.jump(seconds)
    await until(pilot, lambda: app.jumps_done >= ticket, "a %d s jump finishing" % seconds)
    assert app.progress == (seconds, seconds)


def test_recharge_jump_and_overload_on_the_panel(tmp_path):
    asyncio.run(_session(tmp_path))


async def _session(tmp_path):
    app = PanelApp(speed=0, state_dir=str(tmp_path / "m"), config=CONFIG)
    async with app.run_test(size=(150, 52)) as pilot:
        await until(pilot, lambda: app.state and app.state["status"].get("clock"), "the meter's clock")
        assert app.state["status"]["clock"].startswith("2026-11-30T09:00")  # the harness's factory clock
        assert "CLOSED" in shown(app, "#indicators")
        # no credit: grace for a day, then the cut inside Tuesday's 10:00-13:00 window
        await pilot.click("#jump-day")
        await until(pilot, lambda: app.jumps_done >= 1, "+1 day")
        assert app.progress == (86400, 86400)
        await jump(app, pilot, 2 * 3600)
        assert "OPEN: supply cut (credit)" in shown(app, "#indicators")
        assert "no credit" in shown(app, "#lcd")

        now = datetime.datetime.fromisoformat(app.state["status"]["clock"])
        token = hsts.vend_credit(KEY, 500, to_seconds(now))
        before = app.state["status"]["balance_paise"]
        for digit in token:
            await pilot.click("#key-" + digit)
        await pilot.click("#key-ENTER")
        await jump(app, pilot, 1)
        await until(pilot, lambda: "Credit accepted" in shown(app, "#lcd"), "the credit on the LCD")
        assert app.state["status"]["balance_paise"] > before
        assert "CLOSED: supply on" in shown(app, "#indicators")
        assert any("Rs" in line or "balance" in line for line in [shown(app, "#indicators")])

        # a week ahead: progress moves in steps, and the screen answers during the jump
        week_from = datetime.datetime.fromisoformat(app.state["status"]["clock"])
        ticket = app.jump(7 * 86400)
        seen = set()
        clocks = set()
        deadline = time.monotonic() + 600
        while app.jumps_done < ticket:
            assert time.monotonic() < deadline, "the week never finished"
            seen.add(app.progress[0])
            clocks.add(app.state["status"].get("clock"))
            await pilot.pause(0.02)
        assert len([p for p in seen if 0 < p < 7 * 86400]) >= 2, seen  # progress, not one leap
        assert len(clocks) >= 2, clocks  # the clock on the screen moved during the jump
        clock = datetime.datetime.fromisoformat(app.state["status"]["clock"])
        # a week later (the screen read its start a moment before the jump began)
        assert abs(clock - week_from - datetime.timedelta(days=7)) <= datetime.timedelta(seconds=2), (week_from, clock)

        # overload: 3 kW on a 2 kW sanctioned load (10 % margin) trips after 30 s
        for _ in range(6):
            await pilot.click("#load-up")
        await until(pilot, lambda: app.state["load"] == 3000, "3000 W applied")
        await jump(app, pilot, 60)
        assert "OPEN: supply cut (overload)" in shown(app, "#indicators"), shown(app, "#indicators")
        await pilot.click("#key-BACK")  # back to the first screen: why the power is off
        await until(pilot, lambda: "OFF: overload" in shown(app, "#lcd"), "the overload on the LCD")
