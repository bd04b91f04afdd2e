"""Hardware-in-the-loop harness: a meter on a serial link plus a bench that acts on it.

    from host_tools.hil import SimulatedMeter
    with SimulatedMeter(state_dir=None, board="sim", config=None) as m:
        m.link.command("status")
"""
from host_tools.hil.bench import BenchError, BenchUnsupported, SerialBench, SimBench
from host_tools.link import Link, LinkError, MeterError, parse_reply
from host_tools.hil.sim import PowerLost, SimulatedMeter
from host_tools.hil.serial_meter import SerialMeter

__all__ = ["SimulatedMeter", "SerialMeter", "Link", "LinkError", "MeterError", "parse_reply",
           "SimBench", "SerialBench", "BenchError", "BenchUnsupported", "PowerLost"]
