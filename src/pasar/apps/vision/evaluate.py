"""Evaluating a trained vision model on products it was never trained on.

    train_set, heldout = split_by_product(load_examples(Path("../shared/data/images")))
    report, predictions = evaluate_vision_model(load_vision_model("runs/s3"), train_set, heldout)
    write_page(Path("page"), predictions)        # index.html + thumbnails, for a person to look

Three measures on the held-out split (by product, ``split_by_product``):

- **category accuracy**: the candidate categories (every ``category`` attribute in the data,
  "Fruit / Apple") are ranked by their likelihood as the caption's ``category:`` line after the
  title the model generated. Ranking is more robust than parsing a small model's free text, which
  may name no category or one that does not exist; the parsed caption's accuracy is reported
  beside it, and so is the accuracy of the top level ("Fruit").
- **image -> title retrieval**: recall@1 and @5 of the product's title among all held-out
  titles, ranked by each title's likelihood given the photo (``consistency``).
- **consistency AUROC**: the contrastive consistency score of every photo with its own title
  against the same photo with another held-out product's title (one swap per photo), and the
  verdict's accuracy on those pairs at the threshold chosen on the training split.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pasar.apps.vision.consistency import (
    DEFAULT_REFERENCE_TITLES,
    ThresholdFit,
    continuation_log_likelihoods,
    contrastive_scores,
    fit_threshold,
    swapped_title_indices,
    title_log_likelihoods,
    verdict,
)
from pasar.apps.vision.data import ProductImage, parse_caption
from pasar.apps.vision.model import VisionLanguageModel

CATEGORY_KEY = "category"
THUMBNAIL_PIXELS = 160


# -- metrics (pure) ------------------------------------------------------------------------------


def recall_at_k(scores: np.ndarray, truth: Sequence[int], k: int) -> float:
    """The share of rows of ``scores`` (I, T) whose true column ``truth[i]`` is among the ``k``
    highest. Ties count against the truth (a column tied with it ranks above it)."""
    matrix = np.asarray(scores, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != len(truth) or matrix.shape[0] == 0:
        raise ValueError(
            f"scores must be (rows, candidates) with one true column per row: got shape "
            f"{matrix.shape} and {len(truth)} true columns"
        )
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    true_scores = matrix[np.arange(len(truth)), np.asarray(truth)]  # (I,)
    others_at_least = (matrix >= true_scores[:, None]).sum(axis=1) - 1  # (I,)
    return float(np.mean(others_at_least < k))


def auroc(positive_scores: Sequence[float], negative_scores: Sequence[float]) -> float:
    """The area under the ROC curve of scores that should be high (positives) against scores
    that should be low (negatives): 1 separates them perfectly, 0.5 is chance."""
    from sklearn.metrics import roc_auc_score

    if len(positive_scores) == 0 or len(negative_scores) == 0:
        raise ValueError(
            f"AUROC needs positives and negatives: got {len(positive_scores)} and "
            f"{len(negative_scores)}"
        )
    labels = [1] * len(positive_scores) + [0] * len(negative_scores)
    return float(roc_auc_score(labels, [*positive_scores, *negative_scores]))


def top_level(category: str) -> str:
    """ "Fruit / Apple" -> "Fruit"."""
    return category.split("/")[0].strip()


# -- predictions on held-out photos --------------------------------------------------------------


@dataclass
class HeldoutPrediction:
    """What the model says about one held-out photo."""

    image: str
    product_id: str
    title: str
    caption: str  # the generated text, whole
    category: str | None  # the true one, when the data has it
    predicted_category: str | None  # the best-ranked candidate
    caption_category: str | None  # the category line of the generated caption
    top_titles: list[tuple[str, float]] = field(default_factory=list)  # (title, log-likelihood)


def category_of(example: ProductImage) -> str | None:
    return example.attributes.get(CATEGORY_KEY) or None


def rank_categories(
    model: VisionLanguageModel, image: Image.Image, title_line: str, categories: Sequence[str]
) -> np.ndarray:
    """(C,) mean log-likelihood per token of each category as the ``category:`` line that
    follows ``title_line`` in the caption (the format the model was trained on)."""
    prefix = f"{title_line}\n{CATEGORY_KEY}:"
    return continuation_log_likelihoods(
        model, image, [f" {category}" for category in categories], prefix=prefix
    )


def _category_report(predictions: Sequence[HeldoutPrediction], candidates: int) -> dict[str, Any]:
    labelled = [p for p in predictions if p.category]
    if not labelled:
        return {"images": 0, "candidates": candidates, "accuracy": None}

    def share(hits: list[bool]) -> float:
        return round(float(np.mean(hits)), 4)

    return {
        "images": len(labelled),
        "candidates": candidates,
        "accuracy": share([p.predicted_category == p.category for p in labelled]),
        "top_level_accuracy": share(
            [top_level(p.predicted_category or "") == top_level(p.category or "") for p in labelled]
        ),
        "caption_accuracy": share([p.caption_category == p.category for p in labelled]),
    }


def evaluate_vision_model(
    model: VisionLanguageModel,
    train_set: Sequence[ProductImage],
    heldout: Sequence[ProductImage],
    *,
    threshold: float | None = None,
    reference_titles: int = DEFAULT_REFERENCE_TITLES,
    max_new_tokens: int = 48,
    seed: int = 0,
) -> tuple[dict[str, Any], list[HeldoutPrediction], ThresholdFit | None]:
    """(report, per-photo predictions, the threshold fit on ``train_set`` or None when
    ``threshold`` was given)."""
    from tqdm import tqdm

    from pasar.models.images import load_image

    began = time.perf_counter()
    product_ids = list(dict.fromkeys(e.product_id for e in heldout))
    if len(product_ids) < 2:
        raise ValueError(
            f"{len(product_ids)} held-out product(s): retrieval and swapped pairs need at least "
            "2; raise --heldout-percent or give more products"
        )
    titles = [next(e.title for e in heldout if e.product_id == p) for p in product_ids]
    truth = [product_ids.index(e.product_id) for e in heldout]
    images = [load_image(e.image) for e in heldout]

    fit = None
    if threshold is None:
        if not train_set:
            raise ValueError("no training photos to choose the threshold on: give --threshold")
        train_images = [load_image(e.image) for e in train_set]
        fit = fit_threshold(model, train_images, train_set, reference_titles=reference_titles)
        threshold = fit.threshold

    likelihoods = title_log_likelihoods(model, images, titles, progress=True)  # (I, T)
    contrastive = contrastive_scores(likelihoods)
    swapped = swapped_title_indices(truth, seed)
    rows = np.arange(len(truth))
    true_scores, swapped_scores = contrastive[rows, truth], contrastive[rows, swapped]
    verdicts_right = [verdict(s, threshold) == "consistent" for s in true_scores]
    verdicts_right += [verdict(s, threshold) == "mismatch" for s in swapped_scores]

    categories = sorted({c for e in [*train_set, *heldout] if (c := category_of(e))})
    predictions = []
    for number, example in enumerate(tqdm(heldout, desc="captions and categories", unit="image")):
        image = images[number]
        caption = model.generate([image], max_new_tokens=max_new_tokens)[0]
        title_line, attributes = parse_caption(caption)
        predicted = None
        if categories:
            ranked = rank_categories(model, image, title_line, categories)
            predicted = categories[int(np.argmax(ranked))]
        order = np.argsort(-likelihoods[number], kind="stable")[:3]
        predictions.append(
            HeldoutPrediction(
                image=str(example.image),
                product_id=example.product_id,
                title=example.title,
                caption=caption,
                category=category_of(example),
                predicted_category=predicted,
                caption_category=attributes.get(CATEGORY_KEY),
                top_titles=[(titles[i], round(float(likelihoods[number, i]), 4)) for i in order],
            )
        )

    report: dict[str, Any] = {
        "train_images": len(train_set),
        "heldout_images": len(heldout),
        "heldout_products": len(product_ids),
        "category": _category_report(predictions, len(categories)),
        "retrieval": {
            "titles": len(titles),
            "recall_at_1": round(recall_at_k(likelihoods, truth, 1), 4),
            "recall_at_5": round(recall_at_k(likelihoods, truth, 5), 4),
        },
        "consistency": {
            "auroc": round(auroc(true_scores.tolist(), swapped_scores.tolist()), 4),
            "threshold": round(threshold, 6),
            "threshold_from": "training split" if fit else "given",
            "accuracy_at_threshold": round(float(np.mean(verdicts_right)), 4),
            "true_pairs": len(true_scores),
            "swapped_pairs": len(swapped_scores),
            "threshold_fit": fit.to_json() if fit else None,
        },
        "seconds": round(time.perf_counter() - began, 1),
    }
    return report, predictions, fit


# -- the page ------------------------------------------------------------------------------------


def _thumbnail(path: str, out: Path) -> None:
    from pasar.models.images import load_image

    image = load_image(path)
    image.thumbnail((THUMBNAIL_PIXELS, THUMBNAIL_PIXELS))
    image.save(out)


def page_html(predictions: Sequence[HeldoutPrediction], thumbnails: Sequence[str]) -> str:
    """An HTML page with one row per held-out photo: thumbnail, truth and predictions."""
    rows = []
    for prediction, thumbnail in zip(predictions, thumbnails, strict=True):
        top = "".join(
            f"<li{' class=hit' if title == prediction.title else ''}>{html.escape(title)} "
            f"<small>({score:.2f})</small></li>"
            for title, score in prediction.top_titles
        )
        category_hit = prediction.category and prediction.predicted_category == prediction.category
        rows.append(
            "<tr>"
            f"<td><img src='{html.escape(thumbnail)}' alt='{html.escape(prediction.title)}'></td>"
            f"<td><b>{html.escape(prediction.title)}</b><br>"
            f"<small>{html.escape(prediction.category or '')}</small></td>"
            f"<td><pre>{html.escape(prediction.caption)}</pre></td>"
            f"<td{' class=hit' if category_hit else ''}>"
            f"{html.escape(prediction.predicted_category or '-')}</td>"
            f"<td><ol>{top}</ol></td>"
            "</tr>"
        )
    return (
        "<!doctype html>\n<html><head><meta charset='utf-8'><title>pasar vision: held-out "
        "predictions</title><style>body{font-family:sans-serif}td{vertical-align:top;"
        "border-bottom:1px solid #ddd;padding:6px}pre{white-space:pre-wrap;margin:0}"
        ".hit{color:#070;font-weight:bold}</style></head><body>\n"
        f"<h1>Held-out products: {len(predictions)} photos</h1>\n"
        "<table><tr><th>photo</th><th>true title, category</th><th>generated caption</th>"
        "<th>category (ranked)</th><th>top-3 titles (log-likelihood per token)</th></tr>\n"
        + "\n".join(rows)
        + "\n</table></body></html>\n"
    )


def write_page(folder: Path, predictions: Sequence[HeldoutPrediction]) -> Path:
    """``folder/index.html`` and ``folder/thumbnails/NNN.png``; returns the page's path."""
    thumbnails_dir = folder / "thumbnails"
    thumbnails_dir.mkdir(parents=True, exist_ok=True)
    names = []
    for number, prediction in enumerate(predictions):
        name = f"thumbnails/{number:03d}.png"
        _thumbnail(prediction.image, folder / name)
        names.append(name)
    page = folder / "index.html"
    page.write_text(page_html(predictions, names), encoding="utf-8")
    return page


def predictions_to_json(predictions: Sequence[HeldoutPrediction]) -> list[dict[str, Any]]:
    return [asdict(p) | {"top_titles": [list(t) for t in p.top_titles]} for p in predictions]


def training_heldout_percent(model_folder: Path, default: int = 20) -> int:
    """The held-out percent the model's training run used (``vision-train-config.json``), so that
    evaluation holds out the same products; ``default`` when the folder does not say."""
    config = model_folder / "vision-train-config.json"
    if not config.is_file():
        return default
    return int(json.loads(config.read_text()).get("heldout_percent", default))
