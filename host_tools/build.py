"""Build the firmware for a board: its .mpy image, and the frozen 32-bit interpreter (mp32).

    python -m host_tools.build --board sim              # .mpy image (what a development deploy copies)
    python -m host_tools.build --mp32 --board sim       # + frozen 32-bit unix MicroPython

What an image holds is the board's `boards/<board>/manifest.py`, the MicroPython manifest the ESP32
firmware build freezes (docs/esp32-image.md); the .mpy image and the frozen build hold the same
modules.

build/<board>/image/  what a development deploy puts on the meter's flash: main.py, lib/*.mpy
build/<board>/hw/     simulated boards only: the simulated hardware (machine shim, device models)
build/mp32/<board>/   simulated boards: `micropython`, the 32-bit unix port with the firmware and the
                      simulated board frozen in (an ESP32's object size, bytecode run from "flash")

The MicroPython source for mp32 comes from $MICROPY_SRC: a v1.28 source tree (a git clone with its
submodules) or a source tarball; by default the tarball in ../shared/micropython/ beside the
repository (beside the main checkout, for a git worktree).
"""
import argparse
import contextlib
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile

from host_tools import toolchain

ROOT = pathlib.Path(__file__).resolve().parent.parent
BOARDS = ROOT / "boards"
# A simulated board's image is the real board's (its manifest includes that board's); the hardware
# the simulator runs it on is boards/sim/hardware_manifest.py.
SIM_BOARDS = ("sim", "sim_bl0942")
HARDWARE_MANIFEST = BOARDS / "sim" / "hardware_manifest.py"
ARCH = {"sim": None, "sim_bl0942": None}  # unix port: native-neutral bytecode
DEFAULT_SRC = "../shared/micropython/micropython-1.28.0-src.tar.xz"
# The 32-bit build: no libffi, Berkeley DB or TLS library (not in the source subset, not on a meter).
# The C stack limit is the 64-bit port's (80000 bytes, not 40000): the simulated board's flash is a
# Python block device, so every littlefs read inside a nested import runs VM frames that the
# ESP32's C block device does not (a deploy's first boot, importing from /lib, hit the 40000 limit).
MP32_MAKE = ["CFLAGS_EXTRA=-m32 -DUNIX_STACK_MULTIPLIER=2", "LDFLAGS_EXTRA=-m32", "MICROPY_PY_FFI=0",
             "MICROPY_PY_BTREE=0", "MICROPY_PY_SSL=0"]


# --------------------------------------------------------------------------- manifests
class ManifestError(Exception):
    pass


class _Options:
    def __init__(self, kwargs):
        self._kwargs = kwargs
        self._defaults = {}

    def defaults(self, **kwargs):
        self._defaults = kwargs

    def __getattr__(self, name):
        return self._kwargs.get(name, self._defaults.get(name))


class Manifest:
    """Reads a MicroPython manifest.py as tools/manifestfile.py does, for the part of its API the
    project's manifests use (include, freeze, module, options), so a .mpy build needs no MicroPython
    source. tests/test_manifests.py checks it lists what MicroPython's own reader lists."""

    def __init__(self, path_vars=None):
        self.path_vars = dict(path_vars or {})
        self.files = []  # (source path, target path inside the image), in manifest order
        self.visited = []  # the manifest files read

    def _path(self, path):
        for name, value in self.path_vars.items():
            path = path.replace("$(%s)" % name, value)
        if "$(" in path:
            raise ManifestError("%s: no value for its variable here" % path)
        return os.path.abspath(path)

    def include(self, path, **kwargs):
        path = self._path(path)
        if os.path.isdir(path):
            path = os.path.join(path, "manifest.py")
        if path in self.visited:
            return
        self.visited.append(path)
        cwd = os.getcwd()
        os.chdir(os.path.dirname(path))
        try:
            with open(path) as f:
                code = compile(f.read(), path, "exec")
            exec(code, {"include": self.include, "freeze": self.freeze, "module": self.module,
                        "options": _Options(kwargs)})
        finally:
            os.chdir(cwd)

    def _add(self, src, target):
        if not os.path.isfile(src):
            raise ManifestError("cannot stat %s" % src)
        self.files.append((src, target.replace(os.sep, "/")))

    def freeze(self, path, script=None, opt=None):
        base = self._path(path)
        if script is None:
            for d, subdirs, names in os.walk(base, followlinks=True):
                subdirs.sort()
                for n in sorted(names):
                    if n.endswith((".py", ".mpy")):
                        full = os.path.join(d, n)
                        self._add(full, os.path.relpath(full, base))
        elif isinstance(script, str):
            self._add(os.path.join(base, script), script)
        else:
            for s in script:
                self._add(os.path.join(base, s), s)

    def module(self, module_path, base_path=".", opt=None):
        self._add(os.path.join(self._path(base_path), module_path), module_path)


def manifest_files(path, **options):
    """[(source, target)] a manifest freezes, read with these options."""
    m = Manifest()
    m.include(str(path), **options)
    return m


def board_manifest(board):
    path = BOARDS / board / "manifest.py"
    if not path.exists():
        raise SystemExit("board %r has no boards/%s/manifest.py" % (board, board))
    return path


# --------------------------------------------------------------------------- .mpy image
def _compile(src, dst, arch, name=None):
    dst.parent.mkdir(parents=True, exist_ok=True)
    cmd = [toolchain.mpy_cross(), "-o", str(dst)]
    if arch:
        cmd.append("-march=" + arch)
    if name:
        cmd += ["-s", name]  # the name tracebacks show: the module's path inside the image
    cmd.append(str(src))
    subprocess.run(cmd, check=True)


def build(board):
    if not (BOARDS / board / "board.py").exists():
        raise SystemExit("unknown board %r: no boards/%s/board.py" % (board, board))
    arch = ARCH.get(board, "xtensawin")
    final = ROOT / "build" / board
    # build beside the old one and swap it in at the end, so a simulator or another build running
    # at the same time never sees a half-written tree
    out = ROOT / "build" / (".%s-%d" % (board, os.getpid()))
    shutil.rmtree(out, ignore_errors=True)
    image = out / "image"
    # the board's manifest without the ESP32 port's own modules (a stock MicroPython has them) and,
    # on a simulated board, without the simulated hardware (that goes to hw/)
    files = manifest_files(board_manifest(board), port=False, hardware=False).files
    n = 0
    for src, target in files:
        if target == "main.py":  # the boot script stays source, at the root, as on the ESP32
            image.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, image / "main.py")
            continue
        _compile(src, image / "lib" / (target[:-3] + ".mpy"), arch, target)
        n += 1
    if board in SIM_BOARDS:
        for src, target in manifest_files(HARDWARE_MANIFEST).files:
            if target == "simboot.py":  # run as a script: `micropython hw/simboot.py`
                (out / "hw").mkdir(parents=True, exist_ok=True)
                shutil.copy(src, out / "hw" / "simboot.py")
                continue
            _compile(src, out / "hw" / (target[:-3] + ".mpy"), arch, target)
        # the simulated hardware loads before the flash is mounted: it needs these from the host
        for src, target in files:
            if target in ("pins.py", "civiltime.py"):
                _compile(src, out / "hw" / (target[:-3] + ".mpy"), arch, target)
    digest = hashlib.sha256()
    for f in sorted(image.rglob("*")):
        if f.is_file():
            digest.update(f.relative_to(image).as_posix().encode() + b"\0" + f.read_bytes())
    (image / "BUILD_ID").write_text("%s %s\n" % (board, digest.hexdigest()[:16]))
    old = ROOT / "build" / (".%s-%d-old" % (board, os.getpid()))
    if final.exists():
        os.rename(final, old)
    os.rename(out, final)
    shutil.rmtree(old, ignore_errors=True)
    print("built %s: %d firmware modules -> %s" % (board, n, final.relative_to(ROOT)))


# --------------------------------------------------------------------------- MicroPython source
def _main_checkout():
    """The repository's main checkout (itself, or the one a git worktree belongs to)."""
    try:
        common = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--path-format=absolute",
                                 "--git-common-dir"], capture_output=True, text=True, check=True)
        return pathlib.Path(common.stdout.strip()).parent
    except (OSError, subprocess.CalledProcessError):
        return ROOT


def micropython_src_setting():
    """Where $MICROPY_SRC (or the default) points: a path, relative ones taken from the repo."""
    setting = os.environ.get("MICROPY_SRC") or DEFAULT_SRC
    path = pathlib.Path(setting).expanduser()
    if path.is_absolute():
        return path
    for base in (ROOT, _main_checkout()):
        if (base / path).exists():
            return (base / path).resolve()
    return (ROOT / path).resolve()


def micropython_src():
    """A MicroPython source tree to build from: $MICROPY_SRC itself, or its tarball unpacked once
    into build/micropython-src/."""
    src = micropython_src_setting()
    if src.is_dir():
        if not (src / "ports" / "unix" / "Makefile").exists():
            raise SystemExit("MICROPY_SRC=%s is not a MicroPython source tree (no ports/unix)" % src)
        return src
    if not src.is_file():
        raise SystemExit("no MicroPython source at %s: set MICROPY_SRC to a MicroPython v1.28 clone "
                         "or its source tarball" % src)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:16]
    dest = ROOT / "build" / "micropython-src" / digest
    tree = dest / "micropython"
    if (dest / ".unpacked").exists():
        return tree
    tmp = ROOT / "build" / "micropython-src" / (".%s-%d" % (digest, os.getpid()))
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with tarfile.open(src) as t:
        t.extractall(tmp, filter="tar") if hasattr(tarfile, "tar_filter") else t.extractall(tmp)
    (tmp / ".unpacked").write_text(str(src) + "\n")
    try:
        os.rename(tmp, dest)
    except OSError:  # another build unpacked it meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
    return tree


# --------------------------------------------------------------------------- mp32
@contextlib.contextmanager
def _lock(path):
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def mp32_dir(board):
    return ROOT / "build" / "mp32" / board


def mp32_binary(board):
    return mp32_dir(board) / "micropython"


def _stamp(board, manifest, src_setting):
    h = hashlib.sha256()
    h.update(("%s\n%s\n%s\n" % (board, src_setting, " ".join(MP32_MAKE))).encode())
    for path in manifest.visited:
        h.update(b"manifest " + path.encode() + b"\0" + pathlib.Path(path).read_bytes())
    for src, target in manifest.files:
        h.update(target.encode() + b"\0" + pathlib.Path(src).read_bytes())
    return h.hexdigest()


def _obj_dir():
    """The unix port's object dir, shared by the boards (each relinks with its frozen modules) and
    named by the make flags, which make does not track: a changed flag never reuses old objects."""
    return ROOT / "build" / "mp32" / ("obj-" + hashlib.sha256(" ".join(MP32_MAKE).encode()).hexdigest()[:8])


def _make_frozen(manifest_path):
    """Build the 32-bit unix port with `manifest_path` frozen in; returns its object dir (the
    binary and frozen_content.o are there). Call with the build lock held."""
    src = micropython_src()
    obj = _obj_dir()
    log = ROOT / "build" / "mp32" / "build.log"
    jobs = "-j%d" % max(1, min(4, os.cpu_count() or 1))
    if not (src / "mpy-cross" / "build" / "mpy-cross").exists():
        # on its own first: BUILD= given to the port's make would reach mpy-cross's and break it
        _run(["make", "-C", str(src / "mpy-cross"), jobs], log)
    # the object dir is shared between boards: make does not see that FROZEN_MANIFEST changed,
    # and the manifest tool reuses a compiled module by name and time (sim's board.py for
    # sim_bl0942's), so both go
    (obj / "frozen_content.c").unlink(missing_ok=True)
    shutil.rmtree(obj / "frozen_mpy", ignore_errors=True)
    _run(["make", "-C", str(src / "ports" / "unix"), jobs] + MP32_MAKE
         + ["FROZEN_MANIFEST=" + str(manifest_path), "BUILD=" + str(obj)], log)
    return obj


def _run(cmd, log):
    with open(log, "ab") as f:
        f.write(("$ " + " ".join(cmd) + "\n").encode())
        f.flush()
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    if r.returncode:
        tail = pathlib.Path(log).read_text(errors="replace").splitlines()[-25:]
        raise SystemExit("mp32 build failed (%s): %s\n%s" % (log, " ".join(cmd[:4]), "\n".join(tail)))


def build_mp32(board, force=False, quiet=False):
    """The board's manifest frozen into the 32-bit unix port: build/mp32/<board>/micropython.
    Skipped when the manifest, every file it freezes and the source are unchanged."""
    manifest_path = board_manifest(board)
    manifest = manifest_files(manifest_path, port=False)
    setting = micropython_src_setting()
    stamp = _stamp(board, manifest, setting)
    out = mp32_dir(board)
    with _lock(ROOT / "build" / "mp32" / ".lock"):
        try:
            done = json.loads((out / "build.json").read_text())
        except (OSError, ValueError):
            done = {}
        if not force and done.get("stamp") == stamp and mp32_binary(board).exists():
            if not quiet:
                print("mp32 %s: up to date (%s)" % (board, mp32_binary(board).relative_to(ROOT)))
            return mp32_binary(board)
        obj = _make_frozen(manifest_path)
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / (".micropython-%d" % os.getpid())
        shutil.copy(obj / "micropython", tmp)
        os.rename(tmp, mp32_binary(board))
        info = {"stamp": stamp, "board": board, "source": str(setting),
                "frozen_bytes": _object_size(obj / "frozen_content.o"),
                "frozen_modules": [t for _s, t in manifest.files]}
        (out / "build.json").write_text(json.dumps(info, indent=1) + "\n")
    print("mp32 %s: built %s (%d frozen modules, %d bytes frozen)" % (
        board, mp32_binary(board).relative_to(ROOT), len(manifest.files), info["frozen_bytes"]))
    return mp32_binary(board)


def mp32_info(board):
    """What the last mp32 build of `board` recorded (build/mp32/<board>/build.json)."""
    try:
        return json.loads((mp32_dir(board) / "build.json").read_text())
    except (OSError, ValueError):
        return {}


def frozen_size(board):
    """Bytes the board's frozen modules take in a 32-bit firmware image (an ESP32's flash), without
    the ESP32 port's own modules: the manifest frozen into the 32-bit unix port, measured."""
    manifest = manifest_files(board_manifest(board), port=False)
    stamp = _stamp(board + ":frozen", manifest, micropython_src_setting())
    record = ROOT / "build" / "mp32" / ("frozen-%s.json" % board)
    try:
        done = json.loads(record.read_text())
        if done.get("stamp") == stamp:
            return done["frozen_bytes"]
    except (OSError, ValueError, KeyError):
        pass
    wrapper = ROOT / "build" / "mp32" / ("frozen-%s-manifest.py" % board)
    wrapper.parent.mkdir(parents=True, exist_ok=True)
    wrapper.write_text("include(%r, port=False)\n" % str(board_manifest(board)))
    with _lock(ROOT / "build" / "mp32" / ".lock"):
        obj = _make_frozen(wrapper)
        size = _object_size(obj / "frozen_content.o")
    record.write_text(json.dumps({"stamp": stamp, "frozen_bytes": size}) + "\n")
    return size


def _object_size(path):
    """text + data bytes of an object file: what the frozen modules take in the firmware's flash."""
    try:
        r = subprocess.run(["size", str(path)], capture_output=True, text=True, check=True)
        text, data = r.stdout.splitlines()[1].split()[:2]
        return int(text) + int(data)
    except (OSError, subprocess.CalledProcessError, IndexError, ValueError):
        return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--board", action="append", help="board folder name (repeatable)")
    ap.add_argument("--mp32", action="store_true",
                    help="also build the frozen 32-bit unix MicroPython (simulated boards)")
    ap.add_argument("--mp32-only", action="store_true", help="only the frozen 32-bit build")
    args = ap.parse_args(argv)
    for board in args.board or ["sim"]:
        if not args.mp32_only:
            build(board)
        if args.mp32 or args.mp32_only:
            if board not in SIM_BOARDS:
                raise SystemExit("--mp32 builds simulated boards (%s), not %s" % (", ".join(SIM_BOARDS), board))
            build_mp32(board)


if __name__ == "__main__":
    main(sys.argv[1:])
