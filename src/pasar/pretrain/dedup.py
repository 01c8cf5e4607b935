"""Exact and near-duplicate removal (MinHash LSH from datasketch).

Shingles are 5-character n-grams for Thai (no spaces between words) and 3-word n-grams for the
other languages, taken from the first ``max_chars`` characters of a document. Two documents
whose estimated Jaccard similarity reaches ``threshold`` are near-duplicates; the first seen is
kept.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable, Iterator

from datasketch import MinHash, MinHashLSH


def shingles(text: str, language: str, *, max_chars: int = 5000) -> set[bytes]:
    text = text[:max_chars].lower()
    if language == "th":
        compact = "".join(text.split())
        grams = {compact[i : i + 5] for i in range(max(1, len(compact) - 4))}
    else:
        words = text.split()
        grams = {" ".join(words[i : i + 3]) for i in range(max(1, len(words) - 2))}
    return {g.encode() for g in grams}


def minhash(text: str, language: str, num_perm: int = 128) -> MinHash:
    m = MinHash(num_perm=num_perm, hashfunc=zlib.crc32, seed=1)
    m.update_batch(list(shingles(text, language)))
    return m


def unique_documents(
    texts: Iterable[str], language: str, *, threshold: float = 0.8, num_perm: int = 128
) -> Iterator[tuple[str, str | None]]:
    """Each text with None (kept) or why it was dropped: ``exact_duplicate`` or
    ``near_duplicate``."""
    seen: set[bytes] = set()
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    for i, text in enumerate(texts):
        digest = hashlib.sha1(text.encode()).digest()
        if digest in seen:
            yield text, "exact_duplicate"
            continue
        seen.add(digest)
        signature = minhash(text, language, num_perm)
        if lsh.query(signature):
            yield text, "near_duplicate"
            continue
        lsh.insert(str(i), signature)
        yield text, None
