"""update.py on a plain directory: only declared, verified image files are installed; the meter's
data is out of reach; a damaged file is refused and can be sent again."""
import binascii
import hashlib
import os

from _check import raises
from _meterkit import tmpdir
from refusal import Refused
from update import Update


def _sha(b):
    return binascii.hexlify(hashlib.sha256(b).digest()).decode()


def _read(p):
    with open(p, "rb") as f:
        return f.read()


def _send(u, path, data, chunk=7):
    u.file(path, len(data), _sha(data))
    for off in range(0, len(data), chunk):
        u.put(off, data[off:off + chunk])
    return u.end()


def test_an_image_is_staged_verified_and_installed():
    root = tmpdir()
    os.mkdir(root + "/lib")
    with open(root + "/main.py", "wb") as f:
        f.write(b"old")
    u = Update(root)
    u.begin()
    main, lib = b"import app\n" * 5, bytes(range(256)) * 3
    assert _send(u, "main.py", main)["verified"] is True
    assert _send(u, "lib/meter.mpy", lib)["verified"] is True
    assert _send(u, "lib/drivers/relay.mpy", lib[:10])["verified"] is True
    assert _read(root + "/main.py") == b"old"  # nothing replaced before the commit
    assert sorted(u.install()) == ["lib/drivers/relay.mpy", "lib/meter.mpy", "main.py"]
    assert _read(root + "/main.py") == main and _read(root + "/lib/meter.mpy") == lib
    assert _read(root + "/lib/drivers/relay.mpy") == lib[:10]
    assert "update" not in os.listdir(root)


def test_paths_outside_the_image_are_refused():
    u = Update(tmpdir())
    u.begin()
    for bad in ("data/meter.a", "../main.py", "/main.py", "lib/../x.mpy", "lib/a/b/c.mpy", "data/x/y.mpy", "linkkey", "lib/.x.mpy",
                "lib/x.txt", "", "main.py\x00"):
        with raises(Refused) as e:
            u.file(bad, 1, "00" * 32)
        assert e.value.code == 422, bad


def test_a_damaged_file_is_refused_and_may_be_sent_again():
    root = tmpdir()
    u = Update(root)
    u.begin()
    data = b"x" * 100
    u.file("main.py", 100, _sha(data))
    u.put(0, b"y" * 100)
    with raises(Refused) as e:
        u.end()
    assert e.value.code == 422 and "damaged" in e.value.message
    with raises(Refused):
        u.ready()  # nothing verified to install
    _send(u, "main.py", data)
    u.install()
    assert _read(root + "/main.py") == data


def test_chunks_in_order_and_within_the_declared_size():
    u = Update(tmpdir())
    with raises(Refused):
        u.put(0, b"a")  # no update open
    u.begin()
    u.file("main.py", 4, _sha(b"abcd"))
    with raises(Refused):
        u.put(2, b"cd")  # out of order
    u.put(0, b"ab")
    with raises(Refused):
        u.put(2, b"cde")  # beyond the size
    u.put(2, b"cd")
    u.end()
    assert u.abort()["update"] == "aborted"
    with raises(Refused):
        u.ready()
