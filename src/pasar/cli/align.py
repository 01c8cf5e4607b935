"""``pasar align``: train a model on feedback data with SFT, BNF, DPO or KTO."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pasar.cli.output import console, run_guarded

app = typer.Typer(
    help="Train on feedback: sft, bnf (pasar's), and TRL's dpo and kto as baselines.",
    no_args_is_help=True,
)

Model = Annotated[
    str, typer.Option("--model", "-m", help="Start model: a pasar name, HF dir or GGUF.")
]
Data = Annotated[
    Path, typer.Option(help="JSONL/Parquet in TRL's format (`pasar feedback export` writes it).")
]
Output = Annotated[
    Path, typer.Option(help="Directory for checkpoints, logs, curves and the trained model.")
]
Lora = Annotated[bool, typer.Option(help="Train a LoRA adapter (merged into the saved model).")]
Steps = Annotated[int, typer.Option(help="Optimizer steps.")]
Ref = Annotated[
    str,
    typer.Option(help="Reference log-probs: precompute (cached), model, or adapter (with --lora)."),
]
LR = Annotated[float | None, typer.Option(help="Learning rate (default per method).")]
Batch = Annotated[int, typer.Option(help="Sequences per step per device.")]
Accum = Annotated[int, typer.Option(help="Gradient accumulation steps.")]
MaxLen = Annotated[int, typer.Option(help="Longest prompt + completion, in tokens.")]
Resume = Annotated[bool, typer.Option(help="Continue from the newest checkpoint in --output.")]
ReportTo = Annotated[str, typer.Option(help="Also log to: tensorboard, wandb, ... (none).")]
DropLonger = Annotated[
    bool,
    typer.Option(
        help="sft: leave out conversations longer than --max-length instead of cutting their "
        "ends off (a cut agent trajectory loses its last turns, often the one that acts)."
    ),
]


def make_command(method: str, doc: str):  # type: ignore[no-untyped-def]
    @run_guarded
    def command(
        model: Model,
        data: Data,
        output: Output,
        lora: Lora = False,
        max_steps: Steps = 100,
        ref: Ref = "precompute",
        learning_rate: LR = None,
        batch_size: Batch = 4,
        grad_accum: Accum = 1,
        max_length: MaxLen = 512,
        resume: Resume = False,
        report_to: ReportTo = "none",
        drop_longer: DropLonger = False,
        name: Annotated[
            str | None,
            typer.Option(
                help="Register the trained model under this name, with its lineage (base "
                "model and version, data sha256, method, settings): `pasar models show NAME`."
            ),
        ] = None,
    ) -> None:
        from pasar.align.run import AlignOptions, run_alignment

        options = AlignOptions(
            method=method,  # type: ignore[arg-type]
            model=model,
            data=str(data),
            output_dir=str(output),
            lora=lora,
            max_steps=max_steps,
            ref=ref,  # type: ignore[arg-type]
            learning_rate=learning_rate,
            batch_size=batch_size,
            grad_accum=grad_accum,
            max_length=max_length,
            resume=resume,
            report_to=report_to,
            drop_longer=drop_longer,
        )
        report = run_alignment(options)
        console.print(
            f"{method}: {report['steps']} steps in {report['runtime_s']} s; model saved in "
            f"{output} (use it: pasar chat -m {output}); curves: {output / 'curves.png'}"
        )
        if name:
            from pasar.models.registry import register_trained

            spec = register_trained(name, output, report["lineage"])
            console.print(f"registered {name} (version {spec.version}) -> {output}")

    command.__doc__ = doc
    return command


app.command("bnf")(
    make_command("bnf", "BNF: learn from good-only, bad-only or paired feedback (no beta to tune).")
)
app.command("sft")(
    make_command("sft", "Supervised fine-tuning on `messages` rows (TRL's SFTTrainer).")
)
app.command("dpo")(
    make_command("dpo", "DPO on prompt/chosen/rejected pairs (TRL's DPOTrainer), a baseline.")
)
app.command("kto")(
    make_command("kto", "KTO on prompt/completion/label rows (TRL's KTOTrainer), a baseline.")
)


@app.command("onpolicy")
@run_guarded
def onpolicy(
    model: Model,
    prompts: Annotated[
        Path, typer.Option(help="Prompts JSONL with train and heldout rows (`pasar eval prompts`).")
    ],
    output: Output,
    judge: Annotated[
        str, typer.Option(help="verifier, reward:DIR or llm:MODEL: scores the samples.")
    ] = "verifier",
    rounds: Annotated[int, typer.Option(help="Sample-judge-train rounds.")] = 2,
    samples: Annotated[int, typer.Option(help="Completions sampled per train prompt.")] = 4,
    epochs: Annotated[float, typer.Option(help="Passes over each round's data.")] = 2.0,
    learning_rate: LR = None,
    batch_size: Batch = 8,
    temperature: Annotated[float, typer.Option(help="Sampling temperature.")] = 0.8,
    max_tokens: Annotated[int, typer.Option(help="Longest sample, in tokens.")] = 96,
    lora: Lora = False,
    method: Annotated[str, typer.Option(help="bnf, or kto to compare.")] = "bnf",
    seed: Annotated[int, typer.Option(help="Seed for sampling and training.")] = 0,
) -> None:
    """On-policy BNF: each round samples from the current model, keeps the judge's best and
    worst, trains on them (reference = the round's start), and measures the win rate against
    the start model on held-out prompts. Rerun the same command to resume after a kill."""
    from pasar.align.onpolicy import OnPolicyOptions, run_onpolicy

    options = OnPolicyOptions(
        model=model,
        prompts=str(prompts),
        judge=judge,
        rounds=rounds,
        samples=samples,
        output_dir=str(output),
        method=method,
        epochs=epochs,
        learning_rate=learning_rate,
        batch_size=batch_size,
        lora=lora,
        temperature=temperature,
        max_tokens=max_tokens,
        seed=seed,
    )
    report = run_onpolicy(options, log=console.print)
    last = report["rounds"][-1]
    console.print(
        f"{len(report['rounds'])} rounds done; final model {last['model']}; report "
        f"{output / 'report.json'}"
    )


@app.command("reward")
@run_guarded
def reward(
    model: Model,
    data: Annotated[Path, typer.Option(help="prompt/chosen/rejected pairs JSONL.")],
    output: Output,
    max_steps: Steps = 100,
    learning_rate: Annotated[float, typer.Option(help="Learning rate.")] = 1e-5,
    batch_size: Batch = 4,
    max_length: MaxLen = 512,
) -> None:
    """Train a reward model on preference pairs (TRL's RewardTrainer); judge with reward:DIR."""
    from pasar.align.reward import RewardOptions, train_reward_model

    report = train_reward_model(
        RewardOptions(
            model=model,
            data=str(data),
            output_dir=str(output),
            max_steps=max_steps,
            learning_rate=learning_rate,
            batch_size=batch_size,
            max_length=max_length,
        )
    )
    console.print(
        f"reward model: {report['steps']} steps in {report['runtime_s']} s, saved in {output}; "
        f"judge with --judge reward:{output}"
    )
