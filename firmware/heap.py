"""Heap figures for `info`: what is free, and the largest block the heap can still give in one piece.

MicroPython tells only the total free (`gc.mem_free`); a fragmented heap can have plenty free and
still refuse a 4 KB buffer. The largest free block is found by trying allocations (a binary search
over bytearray sizes, collecting after each), which works alike on the ESP32 and the unix port and
prints nothing (micropython.mem_info would print its heap map to the console, the service port).
"""
import gc

STEP = 16  # the search stops this close to the answer: one GC block on a 32-bit port
COLLECT_EVERY = 8192  # bytes allocated between collections on a small heap (keep_compact)
SMALL_HEAP = 256 * 1024  # an ESP32 without PSRAM has ~110 KB; with PSRAM megabytes


def keep_compact():
    """On a small heap, collect after every COLLECT_EVERY bytes allocated, not only when full.

    MicroPython allocates first-fit from the lowest free block after a collection. Left alone it
    fills the whole heap with garbage between collections, and the objects that survive end up
    scattered over it: free space in hundreds of small holes. Collecting often keeps the live
    objects packed low and the top of the heap in one piece (32-bit build, an hour under load:
    largest free block 24 KB instead of 5 KB, for about 40 % more CPU in the simulated loop). A
    big heap (PSRAM, the 64-bit simulator's 1M) keeps large free blocks anyway."""
    gc.collect()
    if gc.mem_free() + gc.mem_alloc() <= SMALL_HEAP:
        gc.threshold(COLLECT_EVERY)


def largest_free():
    """Bytes of the largest single allocation the heap can serve now."""
    gc.collect()
    lo, hi = 0, gc.mem_free() + 1
    while hi - lo > STEP:
        mid = (lo + hi) // 2
        try:
            probe = bytearray(mid)
        except MemoryError:
            hi = mid
            continue
        probe = None  # noqa: F841  freed by the collection below
        lo = mid
        gc.collect()
    return lo


def figures(board):
    """heap_free, heap_used, heap_largest_free, and on the simulated board heap_sim: the bytes its
    hardware models hold (absent on a real board), so the firmware's own use is used - sim. Empty
    under CPython (the unit tests), which has no such heap."""
    if not hasattr(gc, "mem_free"):
        return {}
    largest = largest_free()  # collects first, so free/used below count live objects only
    out = {"heap_free": gc.mem_free(), "heap_used": gc.mem_alloc(), "heap_largest_free": largest}
    sim = getattr(board, "heap_sim", None)
    if sim is not None:
        out["heap_sim"] = sim
    return out
