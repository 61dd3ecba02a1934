"""Overlap Graph reads with database writes, one page ahead, without holding more than that.

The sync is bound by two waits: Graph answering and the database writing. Reading the next page
on a thread while the current one is written hides the shorter wait behind the longer one; the
bounded queue keeps memory at a page or two whatever the tenant's size.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

_DONE = object()


def read_ahead(pages: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Yield `pages` while a thread already reads up to `depth` further ones.

    An exception in the reader is raised here, at the position it happened; closing the
    iterator early (an exception in the consumer) stops the reader at its next page.
    """
    buffer: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def reader() -> None:
        try:
            for page in pages:
                if not put((page, None)):
                    return
        except BaseException as exc:  # handed over to the consumer, raised there
            put((None, exc))
            return
        put((_DONE, None))

    thread = threading.Thread(target=reader, name="graph-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            page, error = buffer.get()
            if error is not None:
                raise error
            if page is _DONE:
                return
            yield page
    finally:
        stop.set()
        thread.join(timeout=60)


def map_ahead(fetch: Callable[[T], R], inputs: Iterable[T]) -> Iterator[tuple[T, R]]:
    """Yield (input, fetch(input)) in order, fetching the next input while the caller works.

    `inputs` is consumed on the caller's thread (it may read the database); only `fetch`
    runs on the helper thread. When the caller stops early (an exception, e.g. a sync that
    lost its lock), the fetch in flight is abandoned rather than awaited: with a slow Graph it
    could take minutes nobody will use.
    """
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="graph-map-ahead")
    completed = False
    try:
        pending: tuple[T, Future[R]] | None = None
        for item in inputs:
            future = pool.submit(fetch, item)
            if pending is not None:
                yield pending[0], pending[1].result()
            pending = (item, future)
        if pending is not None:
            yield pending[0], pending[1].result()
        completed = True
    finally:
        pool.shutdown(wait=completed, cancel_futures=not completed)
