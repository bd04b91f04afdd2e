"""AES-128 GMAC (GCM with no plaintext) for HLS mechanism 5, security suite 0.

The block cipher is the port's `cryptolib` (ESP32, unix) when present; a compact table-free
AES-128 in Python stands in for builds without it (an HLS association needs only a few blocks).
GHASH multiplies 128-bit integers; nothing here runs more than twice per association.
"""
try:
    import cryptolib as _cryptolib

    _HAVE_AES = True
except ImportError:  # pragma: no cover - builds without cryptolib
    _HAVE_AES = False

_R = 0xE1 << 120


def _xtime(a):
    a <<= 1
    return (a ^ 0x11B) if a & 0x100 else a


def _sbox():
    """The AES S-box, computed (inverse in GF(2^8) then the affine map), not stored."""
    box = bytearray(256)
    p = q = 1
    while True:
        p ^= _xtime(p) & 0xFF  # p *= 3
        q ^= q << 1  # q /= 3
        q ^= q << 2
        q ^= q << 4
        q &= 0xFF
        if q & 0x80:
            q ^= 0x09
        x = q ^ ((q << 1) | (q >> 7)) ^ ((q << 2) | (q >> 6)) ^ ((q << 3) | (q >> 5)) ^ ((q << 4) | (q >> 4))
        box[p] = (x ^ 0x63) & 0xFF
        if p == 1:
            break
    box[0] = 0x63
    return box


class _SoftAES:
    """AES-128 encryption of single blocks (FIPS-197), for builds without cryptolib."""

    def __init__(self, key):
        s = self._s = _sbox()
        w = bytearray(key)
        rcon = 1
        for i in range(4, 44):
            t = w[4 * i - 4:4 * i]
            if i % 4 == 0:
                t = bytearray((s[t[1]] ^ rcon, s[t[2]], s[t[3]], s[t[0]]))
                rcon = _xtime(rcon) & 0xFF
            for k in range(4):
                w.append(w[4 * i - 16 + k] ^ t[k])
        self._w = w

    def encrypt(self, block):
        s = self._s
        w = self._w
        st = bytearray(block[k] ^ w[k] for k in range(16))
        for rnd in range(1, 11):
            # SubBytes + ShiftRows (state is column-major: byte r + 4c)
            t = bytearray(16)
            for c in range(4):
                for r in range(4):
                    t[r + 4 * c] = s[st[r + 4 * ((c + r) % 4)]]
            if rnd < 10:  # MixColumns
                for c in range(4):
                    a0, a1, a2, a3 = t[4 * c:4 * c + 4]
                    x = a0 ^ a1 ^ a2 ^ a3
                    t[4 * c] = a0 ^ x ^ _xtime(a0 ^ a1) & 0xFF
                    t[4 * c + 1] = a1 ^ x ^ _xtime(a1 ^ a2) & 0xFF
                    t[4 * c + 2] = a2 ^ x ^ _xtime(a2 ^ a3) & 0xFF
                    t[4 * c + 3] = a3 ^ x ^ _xtime(a3 ^ a0) & 0xFF
            k = 16 * rnd
            st = bytearray(t[i] ^ w[k + i] for i in range(16))
        return bytes(st)


def block_cipher(key):
    """An object with encrypt(16 bytes) -> 16 bytes for AES-128 under key."""
    if _HAVE_AES:
        return _cryptolib.aes(bytes(key), 1)
    return _SoftAES(key)


def _int(b):
    v = 0
    for x in b:
        v = (v << 8) | x
    return v


def _gmul(x, y):
    z = 0
    v = y
    for i in range(127, -1, -1):
        if (x >> i) & 1:
            z ^= v
        v = (v >> 1) ^ _R if v & 1 else v >> 1
    return z


def gmac(key, iv, aad, tag_len=12):
    """The GCM tag of empty plaintext with additional data aad (IV of 12 bytes)."""
    aes = block_cipher(key)
    h = _int(aes.encrypt(bytes(16)))
    y = 0
    for i in range(0, len(aad), 16):
        chunk = aad[i:i + 16]
        y = _gmul(y ^ (_int(chunk) << (8 * (16 - len(chunk)))), h)
    y = _gmul(y ^ ((len(aad) * 8) << 64), h)
    ek = _int(aes.encrypt(bytes(iv) + b"\x00\x00\x00\x01"))
    t = y ^ ek
    out = bytearray(16)
    for i in range(16):
        out[15 - i] = (t >> (8 * i)) & 0xFF
    return bytes(out[:tag_len])
