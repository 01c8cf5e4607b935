"""The vision app's work as functions a user can call from Python; ``pasar vision`` only
parses arguments and prints what these return.

    caption_image(Path("photo.jpg"), model_dir)                 -> the caption record
    check_catalog(Path("catalog.csv"), model_dir)               -> rows and a summary
    evaluate_folder(model_dir, data_path("images"))             -> the held-out report
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def caption_image(
    image: Path,
    model_dir: Path,
    *,
    prompt: str | None = None,
    max_new_tokens: int = 48,
    read_text: bool = True,
) -> dict[str, Any]:
    """Caption a product photo: the record ``CAPTION_SCHEMA`` describes (title, visible text
    by OCR when ``read_text``, attributes), with image, model and the whole generated text;
    validated against the schema."""
    import jsonschema

    from pasar.apps.vision.data import CAPTION_SCHEMA, caption_record
    from pasar.apps.vision.model import load_vision_model
    from pasar.models.images import load_image

    picture = load_image(image)
    text = load_vision_model(model_dir).generate([picture], prompt, max_new_tokens=max_new_tokens)[
        0
    ]
    visible_text = None
    if read_text:
        from pasar.apps.vision.image_text import read_text as ocr

        visible_text = [line.text for line in ocr(picture)]
    record = caption_record(text, visible_text)
    report: dict[str, Any] = {
        "image": str(image),
        "model": str(model_dir),
        "caption": record["title"],
    }
    report |= record | {"text": text}
    jsonschema.validate(report, CAPTION_SCHEMA)
    return report


def check_catalog(
    catalog: Path, model_dir: Path, *, threshold: float | None = None, reference_titles: int = 16
) -> dict[str, Any]:
    """Whether each photo of a catalogue shows the product its title names: per row a score
    and a verdict at ``threshold`` (default: the one ``evaluate_folder`` stored in the model
    folder), and a summary."""
    from pasar.apps.vision.consistency import (
        THRESHOLD_FILE,
        check_catalogue,
        load_threshold,
        read_image_catalog,
        summarise_check,
    )
    from pasar.apps.vision.model import load_vision_model

    rows = read_image_catalog(catalog)
    threshold_from = "given"
    if threshold is None:
        threshold, threshold_from = load_threshold(model_dir), f"{model_dir / THRESHOLD_FILE}"
    if threshold is None:
        raise ValueError(
            f"no threshold: {model_dir} has no {THRESHOLD_FILE}; run `pasar vision eval --model "
            f"{model_dir} --out eval.json` (it chooses one on the training split and stores it) "
            "or give --threshold"
        )
    results = check_catalogue(
        load_vision_model(model_dir), rows, threshold, reference_titles=reference_titles
    )
    return {
        "catalog": str(catalog),
        "model": str(model_dir),
        "threshold": threshold,
        "threshold_from": threshold_from,
        "reference_titles": reference_titles,
        "summary": summarise_check(results),
        "rows": results,
    }


def evaluate_folder(
    model_dir: Path,
    data: Path,
    *,
    heldout_percent: int | None = None,
    threshold: float | None = None,
    reference_titles: int = 16,
    max_new_tokens: int = 48,
    page: Path | None = None,
) -> dict[str, Any]:
    """Evaluate a trained model on the products it never saw (the held-out split of ``data``,
    by default the training run's percent): category accuracy, retrieval recall@1/@5 and the
    consistency AUROC. A threshold chosen on the training split is stored in the model folder
    for ``check_catalog``; ``page`` also writes an HTML page of the held-out photos."""
    from pasar.apps.vision.consistency import save_threshold
    from pasar.apps.vision.data import load_examples, split_by_product
    from pasar.apps.vision.evaluate import (
        evaluate_vision_model,
        predictions_to_json,
        training_heldout_percent,
        write_page,
    )
    from pasar.apps.vision.model import load_vision_model

    percent = training_heldout_percent(model_dir) if heldout_percent is None else heldout_percent
    train_set, heldout = split_by_product(load_examples(data), percent)
    measured, predictions, fit = evaluate_vision_model(
        load_vision_model(model_dir),
        train_set,
        heldout,
        threshold=threshold,
        reference_titles=reference_titles,
        max_new_tokens=max_new_tokens,
    )
    report: dict[str, Any] = {"model": str(model_dir), "data": str(data)}
    report |= {"heldout_percent": percent} | measured
    if fit is not None:
        stored = save_threshold(model_dir, fit, data=str(data), heldout_percent=percent)
        report["consistency"]["threshold_stored_in"] = str(stored)
    if page is not None:
        report["page"] = str(write_page(page, predictions))
    report["predictions"] = predictions_to_json(predictions)
    return report
