"""Training logs a person can read: a CSV row per logged step and a PNG of the curves."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from transformers import TrainerCallback


class TrainingLogCallback(TrainerCallback):
    """Appends every log to output_dir/log.csv and draws output_dir/curves.png at the end."""

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any
    ) -> None:
        if not state.is_world_process_zero or not logs or "loss" not in logs:
            return
        path = Path(args.output_dir) / "log.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        row = {
            "step": state.global_step,
            **{k: v for k, v in logs.items() if isinstance(v, int | float)},
        }
        rows = list(csv.DictReader(path.open())) if path.exists() else []
        rows.append({k: str(v) for k, v in row.items()})
        fields = list(dict.fromkeys(k for r in rows for k in r))
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)

    def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if state.is_world_process_zero:
            plot_log(Path(args.output_dir) / "log.csv", Path(args.output_dir) / "curves.png")


def plot_log(csv_path: Path, png_path: Path) -> None:
    """One panel per logged quantity, against the step."""
    if not csv_path.exists():
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(csv.DictReader(csv_path.open()))
    keys = [k for k in rows[0] if k not in ("step", "epoch", "grad_norm", "learning_rate")]
    fig, axes = plt.subplots(len(keys), 1, figsize=(7, 2.2 * len(keys)), sharex=True, squeeze=False)
    for ax, key in zip(axes[:, 0], keys, strict=True):
        points = [(float(r["step"]), float(r[key])) for r in rows if r.get(key)]
        ax.plot([p[0] for p in points], [p[1] for p in points], marker=".")
        ax.set_ylabel(key, rotation=0, ha="right", fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("step")
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
