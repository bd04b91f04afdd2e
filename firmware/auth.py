"""Authentication of commands that change the meter: link key, challenge, sequence, HMAC.

A client asks for a challenge, then sends `auth <seq> <mac> <command>` with
mac = HMAC-SHA256(key, challenge \\n seq \\n command). The challenge is single use and the
sequence number must grow, so a recorded exchange can never be played back. Failures lock the
door for a growing time.

Both survive a reset or a power cut: `persist` (the meter's save of the link-key record) runs
before verify() returns, i.e. before the command runs and before its reply goes out, whenever
the sequence number or the failure count changed. A command captured before a cut therefore
carries a sequence number the meter already has on flash, and a lockout restarts in full.
"""
import binascii
import hashlib

import ticks

_BLOCK = 64
LOCK_AFTER = 3  # failures in a row before the growing lockout starts
MAX_LOCK_S = 600


def hmac_sha256(key, msg):
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key + bytes(_BLOCK - len(key))
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    inner.update(msg)
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    outer.update(inner.digest())
    return outer.digest()


def equal(a, b):
    """Constant-time comparison, so timing tells nothing about how much of a MAC was right."""
    if len(a) != len(b):
        return False
    d = 0
    for i in range(len(a)):
        d |= a[i] ^ b[i]
    return d == 0


class AuthError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


class LinkAuth:
    def __init__(self, clock, urandom, key=None, seq=0, persist=None):
        self._clock = clock
        self._urandom = urandom
        self.key = key  # bytes(32) or None (factory state)
        self.seq = seq
        self.persist = persist  # persist(): make state() durable; returns when it is on flash
        self._challenge = None
        self.failures = 0
        self._locked_until = None
        self._lock_s = 0

    def state(self):
        """What must outlive a reset: the sequence number, the failure count, the lockout."""
        return {"seq": self.seq, "fails": self.failures, "lock_s": self._lock_s if self.locked_for_s() else 0}

    def restore(self, d):
        """Back from a saved state(): a lockout that was running starts again in full (the
        meter cannot know how long it was off)."""
        d = d or {}
        self.seq = int(d.get("seq", self.seq))
        self.failures = int(d.get("fails", 0))
        lock_s = int(d.get("lock_s", 0))
        if lock_s > MAX_LOCK_S:
            lock_s = MAX_LOCK_S
        self._lock_s = lock_s
        self._locked_until = ticks.add(self._clock.ticks_ms(), lock_s * 1000) if lock_s > 0 else None

    def _persist(self):
        if self.persist is not None:
            self.persist()

    def challenge(self):
        self._challenge = binascii.hexlify(self._urandom(16)).decode()
        return self._challenge

    def locked_for_s(self):
        if self._locked_until is None:
            return 0
        left = ticks.diff(self._locked_until, self._clock.ticks_ms())
        if left <= 0:
            return 0
        return (left + 999) // 1000

    def verify(self, seq_text, mac_text, command):
        """Check one `auth` request; returns the new sequence number or raises AuthError."""
        left = self.locked_for_s()
        if left:
            raise AuthError(423, "locked: retry in %d s" % left)
        challenge = self._challenge
        self._challenge = None  # single use, whatever the outcome
        if self.key is None:
            raise AuthError(503, "no link key: provision the meter first")
        if challenge is None:
            return self._fail("no challenge: send `challenge` first")
        try:
            seq = int(seq_text)
            mac = binascii.unhexlify(mac_text)
        except ValueError:
            return self._fail("malformed auth")
        if seq <= self.seq:
            return self._fail("stale sequence number %d (last %d)" % (seq, self.seq))
        msg = ("%s\n%d\n%s" % (challenge, seq, command)).encode()
        if not equal(hmac_sha256(self.key, msg), mac):
            return self._fail("wrong MAC (wrong key?)")
        self.failures = 0
        self._locked_until = None
        self._lock_s = 0
        self.seq = seq
        self._persist()  # on flash before the command runs and its reply goes out
        return seq

    def _fail(self, message):
        self.failures += 1
        if self.failures >= LOCK_AFTER:
            lock_s = 1 << (self.failures - LOCK_AFTER + 1)
            if lock_s > MAX_LOCK_S:
                lock_s = MAX_LOCK_S
            self._locked_until = ticks.add(self._clock.ticks_ms(), lock_s * 1000)
            self._lock_s = lock_s
            message += "; locked for %d s" % lock_s
        self._persist()  # the count and the lockout survive a reset
        raise AuthError(403, message)
