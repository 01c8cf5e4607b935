"""Listing-photo consistency: does this photo show the product this title names?

    model = load_vision_model("runs/vision-s3")
    scores = consistency_scores(model, photo, ["Granny Smith apple"], reference_titles)
    verdict(scores[0], threshold)                                  # "consistent" or "mismatch"

The score is read off the captioner itself, with no second model. The model was trained to write
a product's title as the first line of its caption, so ``title_log_likelihoods`` asks it how
likely each title is, token by token, as the answer to its caption prompt about the photo (the
mean log-probability per title token, so long titles are not penalised for their length).

A raw likelihood is not comparable across photos: some photos make any text likelier than others
(a clear close-up versus a cluttered shelf), so no single threshold fits them all. The score is
therefore contrastive: the title's log-likelihood minus the mean log-likelihood of *other
catalogue titles* given the same photo. Zero means "no better than a title picked at random";
positive means the photo speaks for this title. We do not normalise against the title's
likelihood given no image (a pointwise mutual information): the model has never been trained
without an image, so "no image" (or a blank one) is an input it has never seen and its
likelihoods there are not a meaningful prior.

The threshold of the verdict is chosen on the training split, on true (photo, own title) pairs
versus swapped (photo, another product's title) pairs, to maximise accuracy (``best_threshold``).
``pasar vision eval`` fits it and stores it in the model folder (``consistency.json``);
``pasar vision check --threshold`` overrides it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image

from pasar.apps.vision.data import ProductImage
from pasar.apps.vision.model import VisionLanguageModel

THRESHOLD_FILE = "consistency.json"
DEFAULT_REFERENCE_TITLES = 16
Verdict = Literal["consistent", "mismatch"]


# -- likelihoods ---------------------------------------------------------------------------------


def continuation_token_ids(tokenizer: Any, prefix: str, continuation: str) -> tuple[list[int], int]:
    """(ids, start): the token ids of ``prefix + continuation`` tokenized together (as training
    tokenized whole captions) and where the continuation's tokens start: past the longest
    common prefix of the joint tokenization and the prefix's own."""
    joint = list(tokenizer(prefix + continuation, add_special_tokens=False)["input_ids"])
    if not prefix:
        return joint, 0
    alone = tokenizer(prefix, add_special_tokens=False)["input_ids"]
    shared = 0
    while shared < min(len(joint), len(alone)) and joint[shared] == alone[shared]:
        shared += 1
    return joint, shared


@torch.no_grad()
def continuation_log_likelihoods(
    model: VisionLanguageModel,
    image: Image.Image,
    continuations: Sequence[str],
    *,
    prefix: str = "",
    prompt: str | None = None,
    batch_size: int = 16,
) -> np.ndarray:
    """(C,) mean log-probability per token of each continuation, as the model's answer to
    ``prompt`` (default: its caption prompt) about ``image``, after ``prefix`` (e.g. the first
    line of a caption). The image goes through the backbone once."""
    if not continuations:
        return np.zeros(0)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    was_training = model.training
    model.eval()
    device = model.connector_device
    prompt_ids, _ = model.encode(prompt or model.config.prompt)  # the same for every text
    features = model.backbone.patch_features(model.pixels([image]).to(device))  # (1, P, D)
    pad_id = model.tokenizer.pad_token_id
    scores = []
    for begin in range(0, len(continuations), batch_size):
        texts = continuations[begin : begin + batch_size]
        encoded = [continuation_token_ids(model.tokenizer, prefix, text) for text in texts]
        empty = [
            text for text, (ids, start) in zip(texts, encoded, strict=True) if start >= len(ids)
        ]
        if empty:
            raise ValueError(f"nothing to score in {empty[0]!r}: give a non-empty title")
        longest = max(len(ids) for ids, _ in encoded)
        input_ids = torch.full((len(texts), len(prompt_ids) + longest), pad_id, dtype=torch.long)
        mask = torch.zeros_like(input_ids)
        targets = torch.full((len(texts), longest), -100, dtype=torch.long)  # (B, longest)
        for row, (ids, start) in enumerate(encoded):
            input_ids[row, : len(prompt_ids) + len(ids)] = torch.tensor(prompt_ids + ids)
            mask[row, : len(prompt_ids) + len(ids)] = 1
            targets[row, start : len(ids)] = torch.tensor(ids[start:])
        input_ids, mask, targets = input_ids.to(device), mask.to(device), targets.to(device)
        embeds = model.embed_inputs(input_ids, patch_features=features.expand(len(texts), -1, -1))
        # the logits at positions len(prompt)-1 ... predict the text; the LM head skips the rest
        logits = model.llm(
            inputs_embeds=embeds, attention_mask=mask, logits_to_keep=longest + 1
        ).logits[:, :-1]  # (B, longest, V)
        log_probs = logits.float().log_softmax(-1)
        scored = targets != -100  # (B, longest)
        picked = log_probs.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        per_token = (picked * scored).sum(-1) / scored.sum(-1)  # (B,)
        scores.append(per_token.cpu().numpy())
    model.train(was_training)
    return np.concatenate(scores).astype(np.float64)


def title_log_likelihoods(
    model: VisionLanguageModel,
    images: Sequence[Image.Image],
    titles: Sequence[str],
    *,
    batch_size: int = 16,
    progress: bool = False,
) -> np.ndarray:
    """(I, T) mean log-probability per token of every title given every image."""
    from tqdm import tqdm

    rows = [
        continuation_log_likelihoods(model, image, titles, batch_size=batch_size)
        for image in tqdm(images, desc="titles given images", unit="image", disable=not progress)
    ]
    return np.stack(rows) if rows else np.zeros((0, len(titles)))


# -- the contrastive score and the verdict -------------------------------------------------------


def contrastive_scores(log_likelihoods: np.ndarray) -> np.ndarray:
    """(I, T) -> (I, T): each title's log-likelihood minus the mean of the *other* titles' for
    the same image. Within a row the order is unchanged; across rows the scores share a scale."""
    count = log_likelihoods.shape[-1]
    if count < 2:
        raise ValueError(
            f"a contrastive score needs at least 2 titles to compare, got {count}: give "
            "reference titles from the catalogue"
        )
    total = log_likelihoods.sum(-1, keepdims=True)
    return log_likelihoods - (total - log_likelihoods) / (count - 1)


def reference_titles_for(
    catalogue_titles: Sequence[str], exclude: Collection[str], count: int, seed: int
) -> list[str]:
    """Up to ``count`` distinct catalogue titles not in ``exclude``, drawn for ``seed``."""
    others = sorted(set(catalogue_titles) - set(exclude))
    if len(others) <= count:
        return others
    rng = np.random.default_rng(seed)
    return [others[i] for i in sorted(rng.choice(len(others), size=count, replace=False))]


def consistency_scores(
    model: VisionLanguageModel,
    image: Image.Image,
    titles: Sequence[str],
    reference_titles: Sequence[str],
    *,
    batch_size: int = 16,
) -> np.ndarray:
    """(len(titles),) contrastive scores of ``titles`` for one image: each title's mean
    log-likelihood per token minus the mean over every *other* title of ``titles`` and
    ``reference_titles`` (as ``contrastive_scores`` does over a row)."""
    candidates = list(dict.fromkeys([*titles, *reference_titles]))
    if len(candidates) < 2:
        raise ValueError(
            f"nothing to compare {titles[0] if titles else 'the title'!r} against: the "
            "catalogue needs at least two different titles"
        )
    likelihoods = continuation_log_likelihoods(model, image, candidates, batch_size=batch_size)
    row = dict(zip(candidates, contrastive_scores(likelihoods), strict=True))
    return np.asarray([row[title] for title in titles], dtype=np.float64)


def check_reference_count(count: int) -> None:
    if count < 1:
        raise ValueError(
            f"reference titles: {count}; give at least 1 (more make the score steadier)"
        )


def verdict(score: float, threshold: float) -> Verdict:
    return "consistent" if score >= threshold else "mismatch"


def best_threshold(scores: Sequence[float], labels: Sequence[int]) -> tuple[float, float]:
    """(threshold, accuracy): the cut ``score >= threshold`` -> label 1 with the highest accuracy
    on these scores, at the midpoint between neighbouring scores (ties: the middle one)."""
    values, truth = np.asarray(scores, dtype=np.float64), np.asarray(labels, dtype=int)
    if len(values) == 0 or len(values) != len(truth):
        raise ValueError(
            f"need as many labels as scores, at least one: got {len(values)} scores and "
            f"{len(truth)} labels"
        )
    ordered = np.unique(values)
    cuts = np.concatenate([[ordered[0] - 1.0], (ordered[:-1] + ordered[1:]) / 2, [ordered[-1] + 1]])
    accuracy = np.array([np.mean((values >= cut) == (truth == 1)) for cut in cuts])
    best = np.flatnonzero(accuracy == accuracy.max())
    choice = int(best[len(best) // 2])
    return float(cuts[choice]), float(accuracy[choice])


# -- fitting and storing the threshold -----------------------------------------------------------


def swapped_title_indices(product_of: Sequence[int], seed: int = 0) -> list[int]:
    """For each image (given as the index of its product), another product's index, drawn for
    ``seed``: the negative pair of each image."""
    products = sorted(set(product_of))
    if len(products) < 2:
        raise ValueError("swapped pairs need at least two different products")
    rng = np.random.default_rng(seed)
    out = []
    for own in product_of:
        others = [p for p in products if p != own]
        out.append(int(others[int(rng.integers(len(others)))]))
    return out


@dataclass(frozen=True)
class ThresholdFit:
    threshold: float
    accuracy: float  # on the pairs it was chosen on
    pairs: int
    reference_titles: int

    def to_json(self) -> dict[str, Any]:
        return {
            "threshold": round(self.threshold, 6),
            "train_accuracy": round(self.accuracy, 4),
            "train_pairs": self.pairs,
            "reference_titles": self.reference_titles,
        }


def fit_threshold(
    model: VisionLanguageModel,
    images: Sequence[Image.Image],
    examples: Sequence[ProductImage],
    *,
    reference_titles: int = DEFAULT_REFERENCE_TITLES,
    seed: int = 0,
) -> ThresholdFit:
    """The verdict's threshold on (training) photos: each photo with its own title (label 1) and
    with another product's (label 0), scored against ``reference_titles`` catalogue titles."""
    from tqdm import tqdm

    check_reference_count(reference_titles)
    titles = [e.title for e in examples]
    distinct = list(dict.fromkeys(titles))
    own = [distinct.index(t) for t in titles]
    swapped = swapped_title_indices(own, seed)
    scores, labels = [], []
    pairs = zip(images, own, swapped, strict=True)
    for number, (image, true_index, other_index) in enumerate(
        tqdm(pairs, total=len(images), desc="fitting the threshold", unit="image")
    ):
        pair = [distinct[true_index], distinct[other_index]]
        references = reference_titles_for(distinct, pair, reference_titles - 1, seed + number)
        scores += consistency_scores(model, image, pair, references).tolist()
        labels += [1, 0]
    threshold, accuracy = best_threshold(scores, labels)
    return ThresholdFit(threshold, accuracy, len(scores), reference_titles)


def save_threshold(folder: Path, fit: ThresholdFit, **details: Any) -> Path:
    path = folder / THRESHOLD_FILE
    path.write_text(json.dumps(fit.to_json() | details, indent=2) + "\n")
    return path


def load_threshold(folder: Path) -> float | None:
    """The threshold stored in a model folder by ``pasar vision eval``, or None."""
    path = folder / THRESHOLD_FILE
    if not path.is_file():
        return None
    return float(json.loads(path.read_text())["threshold"])


# -- checking a catalogue ------------------------------------------------------------------------


def read_image_catalog(path: Path) -> list[dict[str, Any]]:
    """The rows of a CSV or JSONL catalogue with ``image`` and ``title`` columns; image paths
    are made absolute against the catalogue's folder. Bad cells are left for the row's check."""
    if not path.is_file():
        raise ValueError(f"catalogue {path} does not exist: give a .csv or .jsonl file")
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix == ".csv":
        rows: list[dict[str, Any]] = list(csv.DictReader(io.StringIO(text, newline="")))
    elif path.suffix == ".jsonl":
        rows = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path} line {number} is not valid JSON ({exc.msg})") from exc
    else:
        raise ValueError(f"{path}: unknown extension {path.suffix!r}; use .csv or .jsonl")
    if not rows:
        raise ValueError(f"{path} has no rows: give one (image, title) per row")
    missing = {"image", "title"} - set(rows[0])
    if missing:
        raise ValueError(
            f"{path} has no {' or '.join(sorted(missing))} column (columns: "
            f"{', '.join(map(str, rows[0]))}): give the photo's path in 'image' and the listing "
            "title in 'title'"
        )
    for row in rows:
        image = Path(str(row.get("image") or ""))
        if str(row.get("image") or "").strip() and not image.is_absolute():
            row["image"] = str(path.parent / image)
    return rows


def check_catalogue(
    model: VisionLanguageModel,
    rows: Sequence[dict[str, Any]],
    threshold: float,
    *,
    reference_titles: int = DEFAULT_REFERENCE_TITLES,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Per row: ``score`` and ``verdict``, or ``error`` (an image that does not load, an empty
    title) without stopping the others. References are other titles of the same catalogue."""
    from tqdm import tqdm

    from pasar.models.images import load_image

    check_reference_count(reference_titles)
    catalogue = [str(r.get("title") or "").strip() for r in rows]
    pool = [title for title in catalogue if title]  # the reference titles
    results = []
    for number, (row, title) in enumerate(
        zip(tqdm(rows, desc="checking photos", unit="row"), catalogue, strict=True)
    ):
        result: dict[str, Any] = {"row": number + 1, "image": row.get("image"), "title": title}
        try:
            if not title:
                raise ValueError("the title is empty: give the listing title")
            if not str(row.get("image") or "").strip():
                raise ValueError("the image path is empty: give the photo's path")
            image = load_image(str(row["image"]))
            references = reference_titles_for(pool, [title], reference_titles, seed + number)
            score = float(consistency_scores(model, image, [title], references)[0])
        except ValueError as exc:
            results.append(result | {"error": str(exc)})
            continue
        results.append(result | {"score": round(score, 4), "verdict": verdict(score, threshold)})
    return results


def summarise_check(results: Sequence[dict[str, Any]]) -> dict[str, int]:
    return {
        "rows": len(results),
        "consistent": sum(r.get("verdict") == "consistent" for r in results),
        "mismatch": sum(r.get("verdict") == "mismatch" for r in results),
        "errors": sum("error" in r for r in results),
    }
