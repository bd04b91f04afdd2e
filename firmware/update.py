"""Firmware update over the service port while the meter keeps metering (docs/link-protocol.md).

A provisioned meter never opens a REPL. The host (`meterctl deploy`) declares each file of the
new image with its size and SHA-256 in an authenticated `update file` request, streams it in
`update put` chunks (open: the authenticated hash decides what is accepted), and ends it with
`update end`, which checks size and hash. `update commit` (authenticated) moves the verified
files from the staging folder over the running image and restarts the meter. The main loop runs
between requests, so metering, the relay policy and the watchdog carry on during the transfer.
"""
import binascii
import hashlib
import os

from refusal import Refused

STAGE = "update"
MAX_FILE = 256 * 1024
MAX_FILES = 64
_SAFE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-."


def _need(cond, message, code=409):
    if not cond:
        raise Refused(code, message)


def check_path(path):
    """An image path: main.py, boot.py, BUILD_ID or lib/[<folder>/]<name>.mpy; never the data."""
    parts = path.split("/")
    ok = 1 <= len(parts) <= 3 and all(p and p[0] != "." and all(c in _SAFE for c in p) for p in parts)
    if ok and len(parts) > 1:
        ok = parts[0] == "lib" and (parts[-1].endswith(".mpy") or parts[-1].endswith(".py"))
    if ok and len(parts) == 1:
        ok = parts[0] in ("main.py", "boot.py", "BUILD_ID")
    _need(ok, "update: %r is not a firmware image path (main.py, boot.py, BUILD_ID, lib/*.mpy)" % path[:40], 422)


def _parents(root, path):
    """Make the folders above root/path."""
    parts = path.split("/")[:-1]
    d = root
    for p in parts:
        d = d + "/" + p
        _mkdir(d)


def _mkdir(path):
    try:
        os.mkdir(path)
    except OSError:
        pass


def _remove_tree(path):
    try:
        names = os.listdir(path)
    except OSError:
        return
    for name in names:
        p = path + "/" + name
        try:
            os.remove(p)
        except OSError:
            _remove_tree(p)
    try:
        os.rmdir(path)
    except OSError:
        pass


class Update:
    def __init__(self, root):
        self.root = root.rstrip("/")  # where the image lives ("" on the device: "/main.py")
        self.stage = self.root + "/" + STAGE
        self.files = None  # [[path, size, sha256 hex, verified]] while a session is open
        self._f = None
        self._hash = None
        self._got = 0

    @property
    def active(self):
        return self.files is not None

    def begin(self):
        self.abort()
        _remove_tree(self.stage)
        _mkdir(self.stage)
        self.files = []
        return {"update": "open", "max_line_bytes": 432}

    def file(self, path, size, sha):
        _need(self.active, "update: no update open (`update begin` first)")
        _need(self._f is None, "update: end the current file first (`update end`)")
        check_path(path)
        _need(0 <= size <= MAX_FILE, "update: size must be 0..%d" % MAX_FILE, 422)
        _need(len(self.files) < MAX_FILES, "update: at most %d files" % MAX_FILES, 422)
        try:
            digest = binascii.unhexlify(sha)
        except ValueError:
            digest = b""
        _need(len(digest) == 32, "update: sha256 must be 64 hex digits", 422)
        _need(path not in [e[0] for e in self.files], "update: %s was sent already" % path, 422)
        _parents(self.stage, path)
        self._f = open(self.stage + "/" + path, "wb")
        self._hash = hashlib.sha256()
        self._got = 0
        self.files.append([path, size, sha.lower(), False])
        return {"file": path, "size": size}

    def put(self, offset, data):
        _need(self._f is not None, "update: no file open (`update file` first)")
        _need(offset == self._got, "update: expected offset %d" % self._got)
        entry = self.files[-1]
        _need(self._got + len(data) <= entry[1], "update: more bytes than the declared size", 422)
        self._f.write(data)
        self._hash.update(data)
        self._got += len(data)
        return {"received": self._got}

    def end(self):
        _need(self._f is not None, "update: no file open")
        f, self._f = self._f, None
        f.close()
        entry = self.files[-1]
        digest = binascii.hexlify(self._hash.digest()).decode()
        if self._got != entry[1] or digest != entry[2]:
            self.files.pop()
            raise Refused(422, "update: %s arrived damaged (%d of %d bytes, sha256 %s): send it again"
                              % (entry[0], self._got, entry[1], digest[:12]))
        entry[3] = True
        return {"file": entry[0], "verified": True}

    def ready(self):
        """The files to install, after checking the image is complete."""
        _need(self.active and self.files, "update: nothing to install")
        _need(self._f is None, "update: a file is still open")
        return [e[0] for e in self.files]

    def install(self):
        """Move the verified files over the running image (lib first, main.py last)."""
        names = self.ready()
        names.sort(key=lambda n: (n == "main.py", n))
        for name in names:
            _parents(self.root, name)
            dst = self.root + "/" + name
            try:
                os.remove(dst)
            except OSError:
                pass
            os.rename(self.stage + "/" + name, dst)
        self.files = None
        _remove_tree(self.stage)
        return names

    def abort(self):
        if self._f is not None:
            try:
                self._f.close()
            except OSError:
                pass
            self._f = None
        was = self.active
        self.files = None
        if was:
            _remove_tree(self.stage)
        return {"update": "aborted" if was else "none"}
