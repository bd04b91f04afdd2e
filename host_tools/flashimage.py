"""Read a meter flash image on the host with littlefs-python (and write one file into it, to
prepare an image as another firmware would have left it).

The image is what boards/sim/models/flash.py keeps in its host file (or a dump of the ESP32 data
partition): littlefs2 as MicroPython's `vfs.VfsLfs2` formats it -- block size 4096 (the NOR
sector), read/prog size 32, cache 128 (MicroPython uses min(block, 4 * max(read, prog))),
lookahead 32 bytes, block_cycles 100; the block count is the image size / 4096.

    list_files(image_path) -> ["/data/reg.a", ...]   every regular file, sorted
    read_file(image_path, path) -> bytes
    extract(image_path, dest_dir)                     copy the tree out (then e.g.
                                                      firmware/store.Store(dest + "/data"))
    write_file(image_path, path, data)                replace (or create) one file, in place
CLI: python -m host_tools.flashimage IMAGE [PATH]   (list, or print one file to stdout)
"""
import argparse
import os
import sys

from littlefs import LFSStat, LittleFS, UserContext

BLOCK_SIZE = 4096
READ_SIZE = 32
PROG_SIZE = 32
CACHE_SIZE = 128
LOOKAHEAD = 32
BLOCK_CYCLES = 100


def _mount(image_path, data=None):
    if data is None:
        with open(image_path, "rb") as f:
            data = bytearray(f.read())
    if not data or len(data) % BLOCK_SIZE:
        raise ValueError("%s: %d bytes is not a whole number of %d-byte blocks"
                         % (image_path, len(data), BLOCK_SIZE))
    # A private copy of the image: only write_file puts it back into the file.
    return LittleFS(
        context=UserContext(buffer=data),
        mount=False,
        block_size=BLOCK_SIZE,
        block_count=len(data) // BLOCK_SIZE,
        read_size=READ_SIZE,
        prog_size=PROG_SIZE,
        cache_size=CACHE_SIZE,
        lookahead_size=LOOKAHEAD,
        block_cycles=BLOCK_CYCLES,
    )


def _open(image_path):
    fs = _mount(image_path)
    fs.mount()  # raises LittleFSError if this is not a littlefs2 image (never formats it)
    return fs


def _walk(fs, top):
    out = []
    for name in sorted(fs.listdir(top)):
        path = top.rstrip("/") + "/" + name
        if fs.stat(path).type == LFSStat.TYPE_DIR:
            out.extend(_walk(fs, path))
        else:
            out.append(path)
    return out


def list_files(image_path):
    """Absolute paths of every regular file in the image, sorted."""
    return _walk(_open(image_path), "/")


def read_file(image_path, path):
    """The contents of one file in the image."""
    fs = _open(image_path)
    with fs.open(path, "rb") as f:
        return f.read()


def extract(image_path, dest_dir):
    """Copy every file of the image under dest_dir (same relative paths); returns the list."""
    fs = _open(image_path)
    files = _walk(fs, "/")
    for path in files:
        target = os.path.join(dest_dir, path.lstrip("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with fs.open(path, "rb") as src, open(target, "wb") as dst:
            dst.write(src.read())
    return files


def write_file(image_path, path, data):
    """Replace (or create) the file `path` in the image with `data` and save the image."""
    with open(image_path, "rb") as f:
        image = bytearray(f.read())
    fs = _mount(image_path, image)
    fs.mount()
    with fs.open(path, "wb") as f:
        f.write(data)
    fs.unmount()
    with open(image_path, "r+b") as f:
        f.write(image)


def main(argv=None):
    ap = argparse.ArgumentParser(description="List or read files in a meter flash image.")
    ap.add_argument("image")
    ap.add_argument("path", nargs="?", help="file to print (raw bytes) instead of listing")
    args = ap.parse_args(argv)
    if args.path:
        sys.stdout.buffer.write(read_file(args.image, args.path))
    else:
        for path in list_files(args.image):
            print(path)


if __name__ == "__main__":
    main(sys.argv[1:])
