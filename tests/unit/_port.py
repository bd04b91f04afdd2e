"""A serial port for link tests: `rx` is what the host sent, `tx` what the meter wrote."""


class Port:
    def __init__(self, data=b""):
        self.rx = bytearray(data)
        self.tx = bytearray()
        self.sizes = []  # of each write

    def readinto(self, buf):
        n = min(len(buf), len(self.rx))
        for i in range(n):
            buf[i] = self.rx[i]
        self.rx = self.rx[n:]
        return n

    def write(self, data):
        self.tx.extend(data)
        self.sizes.append(len(data))

    def text(self):
        return bytes(self.tx).decode()

    def replies(self):
        return [line for line in self.text().split("\r\n") if line]
