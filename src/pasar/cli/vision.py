"""``pasar vision``: train the Ovis-style product-image model in stages, caption a photo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from pasar.cli.output import console, run_guarded, write_report

app = typer.Typer(
    help=(
        "Product images: an Ovis-style vision-language model (EfficientNet-Lite0 patches -> "
        "probabilistic visual tokens -> SmolLM2) that captions product photos and names their "
        "attributes, with a LLaVA-style MLP connector as the baseline."
    ),
    no_args_is_help=True,
)

IMAGES = Path("../shared/data/images")


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
        Path,
        typer.Option(
            help="The product photos: ../shared/data/images (grocery_iconic/, "
            "aws_product_samples/) or a JSONL manifest of {image, product_id, title, attributes}."
        ),
    ] = IMAGES,
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
        data=data,
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
    out: Annotated[Path | None, typer.Option("--out", help="Also write the JSON here.")] = None,
) -> None:
    """Caption a product photo: prints JSON with the caption (the first line the model writes)
    and the attributes it names (its `key: value` lines)."""
    from pasar.apps.vision.data import parse_caption
    from pasar.apps.vision.images import load_image
    from pasar.apps.vision.model import load_vision_model

    picture = load_image(image)
    vision = load_vision_model(model)
    text = vision.generate([picture], prompt, max_new_tokens=max_new_tokens)[0]
    caption, attributes = parse_caption(text)
    report: dict[str, Any] = {"image": str(image), "model": str(model), "caption": caption}
    report |= {"attributes": attributes, "text": text}
    print(json.dumps(report, ensure_ascii=False, indent=2))
    write_report(out, report)
