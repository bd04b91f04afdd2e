"""SerialMeter: a real board on a serial port, with the same shape as SimulatedMeter."""

from host_tools.hil.bench import SerialBench
from host_tools.hil.released import ReleasesPort
from host_tools.link import Link


class SerialMeter(ReleasesPort):
    def __init__(self, port, config=None, optical_port=None):
        self.port = port
        self.optical_port = optical_port  # the optical head's serial device (DLMS), if any
        self.config = config
        self.key = None
        self.link = None
        self.bench = SerialBench(self)

    def __enter__(self):
        self.link = Link(self.port)
        if self.config:
            from host_tools import provisioning

            cfg = provisioning.load(self.config)
            self.key = cfg.link_key
            provisioning.provision(self.link, cfg, progress=None)
        return self

    def __exit__(self, *exc):
        if self.link:
            self.link.close()

    def wait_reboot(self, timeout=60.0):
        """A real board restarts by itself; nothing to do (same shape as SimulatedMeter)."""
        return None
