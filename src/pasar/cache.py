"""A bounded in-memory cache: least recently used entries go first, past a count or a size.

A server keeps caches keyed by what clients send (JSON schemas, client addresses, transcripts);
unbounded, a flood of distinct keys grows memory until the process dies. Every such cache is
one of these:

    grammars = BoundedCache(max_items=64, max_bytes=16 * 2**20)
    grammars.put(key, grammar, size=len(key) + len(text))   # evicts the oldest past a bound
    grammars.get(key)                                       # None when absent (or evicted)

Sizes are what the caller says an entry costs (approximate bytes); without one, an entry's
size is ``approximate_size`` of it. Thread-safe.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def approximate_size(value: object) -> int:
    """Bytes of a string or bytes value (its length); ``sys.getsizeof`` for anything else."""
    if isinstance(value, str | bytes | bytearray):
        return len(value)
    return sys.getsizeof(value)


class BoundedCache(Generic[K, V]):
    """At most ``max_items`` entries of at most ``max_bytes`` together (when given); putting
    one more evicts the least recently used (read or written) first. An entry larger than
    ``max_bytes`` on its own is not kept."""

    def __init__(self, max_items: int, max_bytes: int | None = None):
        if max_items < 1:
            raise ValueError(f"max_items={max_items}: must be at least 1")
        self.max_items, self.max_bytes = max_items, max_bytes
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    @property
    def nbytes(self) -> int:
        """The sizes of the entries kept, added up."""
        return self._bytes

    def get(self, key: K, default: V | None = None) -> V | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return default
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: K, value: V, size: int | None = None) -> None:
        size = approximate_size(value) if size is None else size
        with self._lock:
            self._remove(key)
            if self.max_bytes is not None and size > self.max_bytes:
                return
            self._entries[key] = (value, size)
            self._bytes += size
            while len(self._entries) > self.max_items or (
                self.max_bytes is not None and self._bytes > self.max_bytes
            ):
                _, (_, evicted) = self._entries.popitem(last=False)
                self._bytes -= evicted

    def pop(self, key: K, default: V | None = None) -> V | None:
        with self._lock:
            entry = self._remove(key)
            return default if entry is None else entry[0]

    def prune(self, stale: Callable[[K, V], bool]) -> int:
        """Drop entries from the least recently used on, while ``stale(key, value)`` holds;
        returns how many went. For entries that only ever age (idle rate-limit buckets)."""
        dropped = 0
        with self._lock:
            while self._entries:
                key, (value, _) = next(iter(self._entries.items()))
                if not stale(key, value):
                    break
                self._remove(key)
                dropped += 1
        return dropped

    def _remove(self, key: K) -> tuple[V, int] | None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry[1]
        return entry
