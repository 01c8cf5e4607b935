"""``pasar vision``: train the Ovis-style product-image model in stages, caption a photo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from pasar.cli.output import NoLog, console, run_guarded, write_report
from pasar.config import data_path

app = typer.Typer(
    help=(
        "Product images: an Ovis-style vision-language model (EfficientNet-Lite0 patches -> "
        "probabilistic visual tokens -> SmolLM2) that captions product photos and names their "
        "attributes, with a LLaVA-style MLP connector as the baseline."
    ),
    no_args_is_help=True,
)


@app.command("train")
@run_guarded
def train_command(
    stage: Annotated[
        int,
        typer.Option(
            help="1: visual head + table (or MLP) only; 2: + the backbone; 3: + the LLM "
            "(--llm-method)."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Run folder: checkpoints, log, model.")],
    data: Annotated[
        Path | None,
        typer.Option(
            help="The product photos: a folder like $PASAR_DATA_DIR/images (grocery_iconic/, "
            "aws_product_samples/; the default) or a JSONL manifest of {image, product_id, "
            "title, attributes}."
        ),
    ] = None,
    from_: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="The previous stage's --out folder (required for stages 2 and 3; the model, "
            "backbone and connector then come from it).",
        ),
    ] = None,
    connector: Annotated[
        str, typer.Option(help="Stage 1 without --from: ovis (visual tokens) or mlp (baseline).")
    ] = "ovis",
    model: Annotated[
        str, typer.Option(help="Stage 1 without --from: the LLM (pasar model name or HF folder).")
    ] = "smollm2-135m-instruct",
    backbone: Annotated[
        str,
        typer.Option(
            help="Stage 1 without --from: efficientnet-lite0 (embedded) or a local HF vision "
            "encoder folder (SigLIP, AIMv2)."
        ),
    ] = "efficientnet-lite0",
    visual_vocab_size: Annotated[
        int, typer.Option(help="Stage 1 without --from: visual words K (ovis only).")
    ] = 8192,
    tokenize_function: Annotated[
        str,
        typer.Option(help="Stage 1 without --from: softmax, gumbel or st_argmax (ovis only)."),
    ] = "softmax",
    temperature_start: Annotated[
        float, typer.Option(help="Visual-token temperature at the first step.")
    ] = 1.0,
    temperature_end: Annotated[
        float, typer.Option(help="Visual-token temperature at the last step.")
    ] = 1.0,
    temperature_schedule: Annotated[
        str, typer.Option(help="constant, linear or cosine (start -> end).")
    ] = "constant",
    llm_method: Annotated[
        str, typer.Option(help="Stage 3: lora (adapter on every linear layer) or full.")
    ] = "lora",
    lora_rank: Annotated[int, typer.Option(help="LoRA rank (stage 3, --llm-method lora).")] = 16,
    batch_size: Annotated[int, typer.Option(help="Photos per process per step.")] = 8,
    learning_rate: Annotated[
        float, typer.Option(help="Peak learning rate; 0: 1e-3, 2e-4, 1e-4 for stages 1, 2, 3.")
    ] = 0.0,
    max_steps: Annotated[int, typer.Option(help="Optimizer steps.")] = 100,
    save_every: Annotated[
        int, typer.Option(help="Checkpoint (and held-out loss) every N steps.")
    ] = 25,
    heldout_percent: Annotated[
        int, typer.Option(help="Percent of products held out (by a hash of the product id).")
    ] = 20,
    seed: Annotated[int, typer.Option(help="Seed of the initialisation and the data order.")] = 0,
) -> None:
    """Train one stage. Resumes from OUT's last checkpoint (rerun the same command after a
    kill). Logs loss, learning rate and temperature per step and the held-out caption loss to
    OUT/log.jsonl, writes OUT/train-report.json and the model to OUT (for --from of the next
    stage, and for `pasar vision caption --model OUT`)."""
    from pasar.apps.vision.train import VisionTrainConfig, train

    choices = {
        "--connector": (connector, ("ovis", "mlp")),
        "--tokenize-function": (tokenize_function, ("softmax", "gumbel", "st_argmax")),
        "--temperature-schedule": (temperature_schedule, ("constant", "linear", "cosine")),
        "--llm-method": (llm_method, ("lora", "full")),
    }
    for name, (value, allowed) in choices.items():
        if value not in allowed:
            raise ValueError(f"{name} {value}: give one of {', '.join(allowed)}")
    config = VisionTrainConfig(
        stage=stage,
        data=data or data_path("images"),
        output_dir=out,
        previous=from_,
        model=model,
        backbone=backbone,
        connector=connector,  # type: ignore[arg-type]
        visual_vocab_size=visual_vocab_size,
        tokenize_function=tokenize_function,  # type: ignore[arg-type]
        temperature_start=temperature_start,
        temperature_end=temperature_end,
        temperature_schedule=temperature_schedule,  # type: ignore[arg-type]
        llm_method=llm_method,  # type: ignore[arg-type]
        lora_rank=lora_rank,
        batch_size=batch_size,
        learning_rate=learning_rate,
        max_steps=max_steps,
        save_every=save_every,
        heldout_percent=heldout_percent,
        seed=seed,
    )
    report: dict[str, Any] = train(config)
    table = Table("stage", "connector", "steps", "loss", "held-out loss", "s/step")
    table.add_row(
        str(report["stage"]),
        report["connector"],
        str(report["steps"]),
        f"{report['first_loss']} -> {report['final_loss']}",
        f"{report['heldout_loss_start']} -> {report['heldout_loss_end']}",
        str(report["seconds_per_step"]),
    )
    console.print(table)
    console.print(f"model and report: {out}")


@app.command("caption")
@run_guarded
def caption_command(
    image: Annotated[Path, typer.Argument(help="A product photo (JPEG, PNG, WebP, ...).")],
    model: Annotated[Path, typer.Option(help="A `pasar vision train` --out folder.")],
    prompt: Annotated[
        str | None, typer.Option(help="Ask something else than the training prompt.")
    ] = None,
    max_new_tokens: Annotated[int, typer.Option(help="Longest answer, in tokens.")] = 48,
    read_text: Annotated[
        bool,
        typer.Option(
            help="Fill visible_text by OCR (RapidOCR, ~1 s; it cannot read Thai). Off: an "
            "empty list."
        ),
    ] = True,
    out: Annotated[Path | None, typer.Option("--out", help="Also write the JSON here.")] = None,
) -> None:
    """Caption a product photo: prints JSON with the caption (the first line the model writes)
    and its attributes, as the schema CAPTION_SCHEMA (pasar.apps.vision.data) says: title,
    category, colour, material (null when the model names none), visible_text (the lines OCR
    reads on the photo) and attributes (every `key: value` line), beside image, model and the
    whole generated text. The output is validated against the schema."""
    from pasar.apps.vision.tasks import caption_image

    report = caption_image(
        image, model, prompt=prompt, max_new_tokens=max_new_tokens, read_text=read_text
    )
    print(json.dumps(report, ensure_ascii=False, indent=2))
    write_report(out, report)


@app.command("check")
@run_guarded
def check_command(
    catalog: Annotated[
        Path,
        typer.Argument(
            help="A .csv or .jsonl catalogue with an 'image' column (the photo's path, relative "
            "to the catalogue's folder or absolute) and a 'title' column."
        ),
    ],
    model: Annotated[Path, typer.Option(help="A `pasar vision train` --out folder.")],
    out: Annotated[Path, typer.Option("--out", help="The JSON report: per row and a summary.")],
    threshold: Annotated[
        float | None,
        typer.Option(
            help="Scores at or above it are 'consistent'. Default: the one `pasar vision eval` "
            "chose on the training split and stored in the model folder (consistency.json)."
        ),
    ] = None,
    reference_titles: Annotated[
        int,
        typer.Option(help="Other catalogue titles each photo's title is compared against."),
    ] = 16,
) -> None:
    """Does each photo show the product its title names? Scores every row with the model:
    the title's mean log-likelihood per token as the photo's caption, minus the mean of
    --reference-titles other titles of the same catalogue (0: no better than a random title),
    and gives a verdict (consistent / mismatch) at the threshold. A row whose image cannot be
    loaded gets an 'error' in the report and the others go on. Writes the rows and a summary
    (consistent, mismatch, errors) to --out."""
    from pasar.apps.vision.tasks import check_catalog

    report = check_catalog(catalog, model, threshold=threshold, reference_titles=reference_titles)
    results, summary = report["rows"], report["summary"]
    table = Table("row", "verdict", "score", "title", "error")
    for result in results:
        table.add_row(
            str(result["row"]),
            result.get("verdict", "error"),
            str(result.get("score", "")),
            str(result["title"]),
            result.get("error", ""),
        )
    console.print(table)
    console.print(", ".join(f"{key}: {value}" for key, value in summary.items()))
    write_report(out, report)


@app.command("eval")
@run_guarded
def eval_command(
    model: Annotated[Path, typer.Option(help="A `pasar vision train` --out folder.")],
    out: Annotated[Path, typer.Option("--out", help="The JSON report.")],
    data: Annotated[
        Path | None,
        typer.Option(
            help="The product photos the model was trained on (folder or JSONL manifest); only "
            "its held-out products are evaluated. Default: $PASAR_DATA_DIR/images."
        ),
    ] = None,
    heldout_percent: Annotated[
        int | None,
        typer.Option(help="Percent of products held out. Default: the model's training run's."),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            help="The consistency verdict's threshold. Default: choose it on the training "
            "split (maximum accuracy on own vs swapped titles) and store it in the model folder "
            "for `pasar vision check`."
        ),
    ] = None,
    reference_titles: Annotated[
        int, typer.Option(help="Titles each training photo's title is compared against.")
    ] = 16,
    max_new_tokens: Annotated[int, typer.Option(help="Longest generated caption.")] = 48,
    page: Annotated[
        Path | None,
        typer.Option(
            help="Also write DIR/index.html (and PNG thumbnails) showing each held-out photo "
            "with its caption, ranked category and top-3 titles."
        ),
    ] = None,
) -> None:
    """Evaluate on products never trained on (the held-out split, by product): category
    accuracy (candidate categories ranked by likelihood as the caption's category line; the
    parsed caption's accuracy beside it), image -> title retrieval recall@1 and @5 among the
    held-out titles, and the consistency AUROC of each photo's own title against another
    product's title. Takes minutes on the 135M model: it scores every held-out title for
    every held-out photo."""
    from pasar.apps.vision.tasks import evaluate_folder

    report = evaluate_folder(
        model,
        data or data_path("images"),
        heldout_percent=heldout_percent,
        threshold=threshold,
        reference_titles=reference_titles,
        max_new_tokens=max_new_tokens,
        page=page,
    )
    category, retrieval = report["category"], report["retrieval"]
    consistency = report["consistency"]
    table = Table("measure", "value", "over")
    table.add_row("category accuracy", str(category["accuracy"]), f"{category['images']} photos")
    table.add_row("retrieval recall@1", str(retrieval["recall_at_1"]), f"{retrieval['titles']}")
    table.add_row("retrieval recall@5", str(retrieval["recall_at_5"]), "titles")
    table.add_row("consistency AUROC", str(consistency["auroc"]), "own vs swapped titles")
    table.add_row(
        "verdict accuracy",
        str(consistency["accuracy_at_threshold"]),
        f"threshold {consistency['threshold']} ({consistency['threshold_from']})",
    )
    console.print(table)
    write_report(out, report)


@app.command("translate-image")
@run_guarded
def translate_image_command(
    image: Annotated[Path, typer.Argument(help="A product photo or detail-page image.")],
    to: Annotated[str, typer.Option("--to", help="Target language: id, ms, th, vi, tl, ...")],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Folder for NAME.png (before), NAME.LANG.png (after) and NAME.LANG.json (boxes, "
            "text, confidence, translation).",
        ),
    ],
    model: Annotated[
        str | None,
        typer.Option(help="The translating model: a pasar name, GGUF, HF folder or http(s) URL."),
    ] = None,
    glossary: Annotated[
        Path | None,
        typer.Option(help="CSV/JSON of protected terms (brands kept, required translations)."),
    ] = None,
    min_confidence: Annotated[
        float, typer.Option(help="Lines OCR read with less confidence are left as they are.")
    ] = 0.8,
    no_log: NoLog = False,
) -> None:
    """Translate the text printed on an image: OCR each line, translate it, paint the
    translation over the original in the same colour, and print a table of lines (source,
    translation, confidence).

    Limits: the shipped OCR (RapidOCR's multilingual model) cannot read Thai at all and reads
    Vietnamese tone-stacked letters (ạ ấ ệ ợ ...) badly, so text in those scripts is missed or
    comes out with wrong tone marks; Latin-script English, Indonesian, Malay and Filipino read
    well. The embedded model (SmolLM2-135M) translates poorly into Indonesian, Thai and
    Vietnamese: give a better one with --model."""
    from pasar.apps.vision.image_text import translate_image, write_result
    from pasar.data.translation import load_glossary
    from pasar.models.registry import load_engine
    from pasar.store.db import open_configured_store
    from pasar.store.recorder import recording

    terms = load_glossary(glossary)
    with load_engine(model) as loaded:
        engine = recording(loaded, None if no_log else open_configured_store())
        result = translate_image(image, to, engine, glossary=terms, min_confidence=min_confidence)
    files = write_result(result, out, image.stem)
    table = Table("source", "translation", "confidence")
    for line, translation in zip(result.lines, result.translations, strict=True):
        table.add_row(line.text, translation or "(kept)", f"{line.confidence:.2f}")
    console.print(table)
    console.print(f"{len(result.lines)} lines; files: " + ", ".join(map(str, files.values())))
