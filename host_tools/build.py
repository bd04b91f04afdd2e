"""Compile the firmware and one board with mpy-cross into build/<board>/.

build/<board>/image/  what goes on the meter's flash: main.py, lib/*.mpy (firmware + board.py)
build/<board>/hw/     simulated boards only: the simulated hardware (machine shim, device models)
"""
import argparse
import hashlib
import os
import pathlib
import shutil
import subprocess
import sys

from host_tools import toolchain

ROOT = pathlib.Path(__file__).resolve().parent.parent
BOARDS = ROOT / "boards"
# A simulated variant reuses the sim board's hardware and overrides what its own folder has.
SIM_HARDWARE = {"sim": ["sim"], "sim_bl0942": ["sim", "sim_bl0942"]}
ARCH = {"sim": None, "sim_bl0942": None}  # unix port: native-neutral bytecode
# A simulated board is wired exactly like the real board it simulates: it takes that board's pins.
PINS_FROM = {"sim": "esp32_atm90e26", "sim_bl0942": "esp32_bl0942"}


def _compile(src, dst, arch):
    dst.parent.mkdir(parents=True, exist_ok=True)
    cmd = [toolchain.mpy_cross(), "-o", str(dst)]
    if arch:
        cmd.append("-march=" + arch)
    cmd.append(str(src))
    # mpy-cross names a module by the path it is given; give the path relative to its root.
    subprocess.run(cmd, check=True)


def _compile_tree(src_root, dst_root, arch, skip=()):
    count = 0
    for src in sorted(src_root.rglob("*.py")):
        rel = src.relative_to(src_root)
        if rel.parts[0] in skip or "__pycache__" in rel.parts:
            continue
        _compile(src, dst_root / rel.with_suffix(".mpy"), arch)
        count += 1
    return count


def build(board):
    board_dir = BOARDS / board
    if not (board_dir / "board.py").exists():
        raise SystemExit("unknown board %r: no boards/%s/board.py" % (board, board))
    arch = ARCH.get(board, "xtensawin")
    final = ROOT / "build" / board
    # build beside the old one and swap it in at the end, so a simulator or another build running
    # at the same time never sees a half-written tree
    out = ROOT / "build" / (".%s-%d" % (board, os.getpid()))
    shutil.rmtree(out, ignore_errors=True)
    image = out / "image"
    n = _compile_tree(ROOT / "firmware", image / "lib", arch)
    pins = BOARDS / PINS_FROM.get(board, board) / "pins.py"
    _compile(board_dir / "board.py", image / "lib" / "board.mpy", arch)
    _compile(pins, image / "lib" / "pins.mpy", arch)
    shutil.copy(board_dir / "main.py", image / "main.py")
    if board in SIM_HARDWARE:
        for layer in SIM_HARDWARE[board]:
            layer_dir = BOARDS / layer
            for src in sorted(layer_dir.rglob("*.py")):
                rel = src.relative_to(layer_dir)
                if rel.name in ("board.py", "main.py", "simboot.py") or "__pycache__" in rel.parts:
                    continue
                _compile(src, out / "hw" / rel.with_suffix(".mpy"), arch)
        _compile(pins, out / "hw" / "pins.mpy", arch)
        shutil.copy(BOARDS / "sim" / "simboot.py", out / "hw" / "simboot.py")
        _compile(ROOT / "firmware" / "civiltime.py", out / "hw" / "civiltime.mpy", arch)
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
    out = final
    print("built %s: %d firmware modules -> %s" % (board, n + 1, out.relative_to(ROOT)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--board", action="append", help="board folder name (repeatable)")
    args = ap.parse_args(argv)
    for board in args.board or ["sim"]:
        build(board)


if __name__ == "__main__":
    main(sys.argv[1:])
