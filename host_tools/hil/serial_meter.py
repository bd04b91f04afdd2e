"""SerialMeter: a real board on a serial port, with the same shape as SimulatedMeter."""
import contextlib

from host_tools.hil.bench import SerialBench
from host_tools.link import Link


class SerialMeter:
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

    @contextlib.contextmanager
    def port_released(self):
        """Close the link so another program (meterctl, mpremote) can open the port; reopen after."""
        if self.link is not None:
            self.link.close()
            self.link = None
        try:
            yield self.port
        finally:
            if self.link is None:
                self.link = Link(self.port)

    def wait_reboot(self, timeout=60.0):
        """A real board restarts by itself; nothing to do (same shape as SimulatedMeter)."""
        return None
