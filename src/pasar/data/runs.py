"""A training run's folder, for the trainers that run their own loop (pretraining, the vision
stages): numbered checkpoints, the settings a resumed run must share, and the step log."""

from __future__ import annotations

import json
import shutil
from collections.abc import Collection
from pathlib import Path
from typing import Any

from pasar.data.files import write_jsonl


def checkpoints(output_dir: Path) -> list[Path]:
    """Finished checkpoints (``checkpoints/step-N``, never ``.partial``), oldest first."""
    return sorted((output_dir / "checkpoints").glob("step-[0-9]*[0-9]"))


def check_same_run(
    output_dir: Path, settings_file: str, settings: dict[str, Any], may_change: Collection[str]
) -> None:
    """Refuse to resume a run whose checkpoints were made with other settings (those outside
    ``may_change``), naming what differs."""
    saved_path = output_dir / settings_file
    if not saved_path.exists() or not checkpoints(output_dir):
        return
    saved = json.loads(saved_path.read_text())
    changed = sorted(k for k in settings if k not in may_change and saved.get(k) != settings[k])
    if changed:
        diff = ", ".join(f"{k}: {saved.get(k)!r} -> {settings[k]!r}" for k in changed)
        raise ValueError(
            f"{output_dir} holds a run with other settings ({diff}); resume with the same "
            "settings or give a new --out"
        )


def read_log(path: Path, up_to: int) -> list[dict[str, Any]]:
    """The logged rows up to step ``up_to`` (those after the checkpoint a run resumes from are
    dropped: the resumed run logs them again)."""
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if r["step"] <= up_to]


def write_log(path: Path, rows: list[dict[str, Any]]) -> None:
    write_jsonl(rows, path)


def save_checkpoint(accelerator: Any, output_dir: Path, step: int, keep: int) -> None:
    """``accelerate``'s state (weights, optimizer, RNG) at ``step`` as ``checkpoints/step-N``,
    written as ``step-N.partial`` and renamed so a kill never leaves half a checkpoint; the last
    ``keep`` are kept. Every process calls it."""
    accelerator.wait_for_everyone()
    final = output_dir / "checkpoints" / f"step-{step:06d}"
    partial = final.with_name(final.name + ".partial")
    accelerator.save_state(str(partial))
    if accelerator.is_main_process:
        (partial / "progress.json").write_text(json.dumps({"step": step}))
        partial.replace(final)
        for old in checkpoints(output_dir)[:-keep]:
            shutil.rmtree(old)
    accelerator.wait_for_everyone()


def resume(accelerator: Any, output_dir: Path, **load_options: Any) -> int:
    """Load the last finished checkpoint into the prepared objects; its step, or 0 if none."""
    finished = checkpoints(output_dir)
    if not finished:
        return 0
    accelerator.load_state(str(finished[-1]), **load_options)
    return int(json.loads((finished[-1] / "progress.json").read_text())["step"])
