"""Read-ahead keeps order, hands over the reader's errors, holds a bounded number of pages."""

from __future__ import annotations

import threading

import pytest

from identities.pipeline import map_ahead, read_ahead


def test_pages_come_out_in_order():
    assert list(read_ahead(iter(range(50)))) == list(range(50))


def test_a_reader_error_is_raised_after_the_pages_before_it():
    def pages():
        yield 1
        yield 2
        raise ValueError("page 3 failed")

    seen = []
    with pytest.raises(ValueError, match="page 3 failed"):
        for page in read_ahead(pages()):
            seen.append(page)
    assert seen == [1, 2]


def test_the_reader_stays_at_most_depth_pages_ahead():
    produced = []
    release = threading.Event()

    def pages():
        for n in range(100):
            produced.append(n)
            yield n

    iterator = read_ahead(pages(), depth=2)
    assert next(iterator) == 0
    release.wait(0.3)
    # one handed out, two queued, one waiting to be queued
    assert len(produced) <= 4
    iterator.close()


def test_closing_early_stops_the_reader():
    produced = []

    def pages():
        for n in range(10_000):
            produced.append(n)
            yield n

    for page in read_ahead(pages()):
        if page == 3:
            break
    count = len(produced)
    threading.Event().wait(0.2)
    assert len(produced) == count < 10


def test_map_ahead_pairs_each_input_with_its_result_in_order():
    calls = []

    def fetch(n):
        calls.append(threading.current_thread().name)
        return n * n

    assert list(map_ahead(fetch, iter(range(5)))) == [(n, n * n) for n in range(5)]
    assert all(name.startswith("graph-map-ahead") for name in calls)


def test_map_ahead_raises_the_fetch_error():
    def fetch(n):
        if n == 2:
            raise RuntimeError("no")
        return n

    with pytest.raises(RuntimeError):
        list(map_ahead(fetch, iter(range(5))))
