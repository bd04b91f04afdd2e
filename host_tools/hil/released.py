"""`port_released()`, shared by every kind of meter the harness drives (simulated, serial, farm).

A technician's tool (meterctl, mpremote) opens the meter's port itself, as it opens /dev/ttyUSB0;
the harness's own link has to let go of the port meanwhile and take it back after. What differs
per meter is only what happens around that: a simulated one runs free while released.
"""
import contextlib

from host_tools.link import Link


class ReleasesPort:
    """Mixin: needs `self.port` and `self.link` (a Link or None)."""

    def _released(self):
        """The port was let go (a simulated meter runs free from here)."""

    def _retaken(self):
        """The port is back (a simulated meter goes back under the bench's control)."""

    def _reopen(self):
        """The harness's link on the port again, or None to leave it closed."""
        return Link(self.port)

    @contextlib.contextmanager
    def port_released(self):
        """Close the harness's link so another program can open `self.port`; reopen it after."""
        if self.link is not None:
            self.link.close()
            self.link = None
        self._released()
        try:
            yield self.port
        finally:
            if self.link is None:
                self.link = self._reopen()
            self._retaken()
