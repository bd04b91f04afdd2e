"""SerialMeter: a real board on a serial port, with the same shape as SimulatedMeter."""
from host_tools.hil.bench import SerialBench
from host_tools.hil.link import Link


class SerialMeter:
    def __init__(self, port, config=None):
        self.port = port
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
