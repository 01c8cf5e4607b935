"""The on-policy loop: sample from the current model, judge, train BNF on the verdicts, repeat.

Each round r in 1..K, in output_dir/round-r/:
  samples.jsonl   N sampled completions per train prompt, with the judge's scores (appended a
                  batch at a time)
  data.jsonl      best sample desirable, worst undesirable; where all N score the same, one
                  unpaired example if the judge can say it is good or bad (the verifier can)
  pairs.jsonl     the same prompts as (chosen, rejected) pairs, for TRL's DPO
  train/          BNF on data.jsonl; the reference is the round's start model
  eval.json/.png  win rate of the round's model against the start model, held-out prompts
  report.json     the round's numbers; its presence marks the round done
Every step writes its file atomically and is skipped when that file exists, so a killed run
continues where it stopped when the same command is run again.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from pasar.align.run import AlignOptions, run_alignment
from pasar.data.files import jsonl_line, write_json, write_jsonl
from pasar.evaluate.compare import Generation, generate, judge_report, write_winrate_report
from pasar.evaluate.judges import Judge, VerifierJudge, load_judge
from pasar.evaluate.prompts import read_prompts


@dataclass
class OnPolicyOptions:
    model: str
    prompts: str
    judge: str
    rounds: int
    samples: int
    output_dir: str
    method: str = "bnf"
    epochs: float = 2.0
    learning_rate: float | None = None
    batch_size: int = 8
    lora: bool = False
    temperature: float = 0.8
    max_tokens: int = 96
    generation_batch: int = 32
    engine: str = "hf"  # the engine the trained models run on, so start and rounds compare alike
    seed: int = 0
    eval_max_tokens: int = 96

    def __post_init__(self) -> None:
        if self.rounds < 1 or self.samples < 2:
            raise ValueError("--rounds must be at least 1 and --samples at least 2")
        if self.method not in ("bnf", "kto"):
            raise ValueError("the on-policy loop trains bnf (or kto, for comparison)")


SAME_RUN = ("model", "prompts", "judge", "samples", "method", "temperature", "max_tokens", "seed")


def _read_done_lines(path: Path) -> list[dict[str, Any]]:
    """Complete JSON lines of a file being appended to; a line cut by a kill is dropped."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    complete, _, _ = text.rpartition("\n")
    if len(complete) + 1 != len(text):
        path.write_text(complete + "\n" if complete else "", encoding="utf-8")
    return [json.loads(line) for line in complete.splitlines() if line.strip()]


def preference_rows(
    prompt: dict[str, Any], completions: list[str], scores: list[float], good_score: float | None
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """(unpaired rows, pair or None) from one prompt's judged samples.

    Best and worst become a desirable and an undesirable example (and a pair). When every sample
    scores the same, there is no pair; if the judge has an absolute scale (``good_score``), one
    sample is kept as desirable (it reached the score) or undesirable (it did not).
    """
    messages = prompt["messages"]

    def unpaired(text: str, label: bool) -> dict[str, Any]:
        return {
            "prompt": messages,
            "completion": [{"role": "assistant", "content": text}],
            "label": label,
        }

    best = max(range(len(scores)), key=lambda i: scores[i])
    worst = min(range(len(scores)), key=lambda i: scores[i])
    if scores[best] > scores[worst]:
        pair = {
            "prompt": messages,
            "chosen": [{"role": "assistant", "content": completions[best]}],
            "rejected": [{"role": "assistant", "content": completions[worst]}],
        }
        return [unpaired(completions[best], True), unpaired(completions[worst], False)], pair
    if good_score is None:
        return [], None
    return [unpaired(completions[best], scores[best] >= good_score)], None


class OnPolicyRun:
    def __init__(self, options: OnPolicyOptions, *, log: Callable[[str], None] = print):
        self.options = options
        self.dir = Path(options.output_dir)
        self.log = log
        prompts = read_prompts(Path(options.prompts))
        self.train = [p for p in prompts if p.get("split", "train") == "train"]
        self.heldout = [p for p in prompts if p.get("split") == "heldout"]
        if not self.train or not self.heldout:
            raise ValueError(
                f"{options.prompts} needs prompts in both splits (train: {len(self.train)}, "
                f"heldout: {len(self.heldout)}); `pasar eval prompts` writes such a file"
            )
        self.judge: Judge = load_judge(options.judge)
        self.eval_settings = Generation(
            max_tokens=options.eval_max_tokens,
            batch_size=options.generation_batch,
            seed=options.seed,
            engine=options.engine,
        )

    # -- state ---------------------------------------------------------------------------------
    def check_same_run(self) -> None:
        path = self.dir / "options.json"
        mine = {k: asdict(self.options)[k] for k in SAME_RUN}
        if path.exists():
            theirs = json.loads(path.read_text())
            changed = {k: (theirs.get(k), v) for k, v in mine.items() if theirs.get(k) != v}
            if changed:
                raise ValueError(
                    f"{self.dir} holds a run with other settings {changed} (was, now); "
                    "rerun with the same ones to resume it, or choose another --output"
                )
        else:
            self.dir.mkdir(parents=True, exist_ok=True)
            write_json(asdict(self.options), path)

    def policy(self, round_: int) -> str:
        if round_ == 1:
            return self.options.model
        return str(self.dir / f"round-{round_ - 1}" / "train")

    def load(self, model: str) -> Any:
        from pasar.models.registry import load_engine

        return load_engine(model, engine=self.options.engine)

    # -- steps ---------------------------------------------------------------------------------
    def baseline_completions(self) -> list[str]:
        path = self.dir / "baseline.jsonl"
        if not path.exists():
            with self.load(self.options.model) as engine:
                texts = generate(engine, self.heldout, self.eval_settings, desc="start model")
            pairs = zip(self.heldout, texts, strict=True)
            write_jsonl(({"id": p["id"], "completion": t} for p, t in pairs), path)
        done = {r["id"]: r["completion"] for r in map(json.loads, path.read_text().splitlines())}
        return [done[p["id"]] for p in self.heldout]

    def sample(self, round_: int, path: Path) -> list[dict[str, Any]]:
        done = _read_done_lines(path)
        todo = self.train[len(done) :]
        if todo:
            o = self.options
            per_batch = max(1, o.generation_batch // o.samples)
            with self.load(self.policy(round_)) as engine, path.open("a", encoding="utf-8") as f:
                for start in tqdm(
                    range(0, len(todo), per_batch), desc=f"round {round_} sampling", unit="batch"
                ):
                    chunk = todo[start : start + per_batch]
                    results = engine.batch(
                        [p["messages"] for p in chunk for _ in range(o.samples)],
                        max_tokens=o.max_tokens,
                        temperature=o.temperature,
                        seed=o.seed + 100_003 * round_ + len(done) + start,
                    )
                    texts = [r.text for r in results]
                    for i, prompt in enumerate(chunk):
                        mine = texts[i * o.samples : (i + 1) * o.samples]
                        f.write(
                            jsonl_line(
                                {
                                    "id": prompt["id"],
                                    "completions": mine,
                                    "scores": self.judge.rank(prompt, mine),
                                }
                            )
                        )
                    f.flush()
            done = _read_done_lines(path)
        return done

    def build_data(self, round_dir: Path, samples: list[dict[str, Any]]) -> int:
        good = 1.0 if isinstance(self.judge, VerifierJudge) else None
        by_id = {p["id"]: p for p in self.train}
        rows, pairs = [], []
        for s in samples:
            unpaired, pair = preference_rows(by_id[s["id"]], s["completions"], s["scores"], good)
            rows += unpaired
            pairs += [pair] if pair else []
        if not rows:
            raise ValueError(
                f"round {round_dir.name}: the judge scored every sample of every prompt alike; "
                "there is nothing to learn from (try more --samples or a higher temperature)"
            )
        write_jsonl(pairs, round_dir / "pairs.jsonl")
        write_jsonl(rows, round_dir / "data.jsonl")
        return len(rows)

    def train_round(self, round_: int, round_dir: Path, rows: int) -> dict[str, Any]:
        train_dir = round_dir / "train"
        if (train_dir / "report.json").exists():
            return json.loads((train_dir / "report.json").read_text())
        o = self.options
        steps = max(1, math.ceil(rows * o.epochs / o.batch_size))
        return run_alignment(
            AlignOptions(
                method=o.method,  # type: ignore[arg-type]
                model=self.policy(round_),
                data=str(round_dir / "data.jsonl"),
                output_dir=str(train_dir),
                lora=o.lora,
                max_steps=steps,
                learning_rate=o.learning_rate,
                batch_size=o.batch_size,
                save_steps=max(1, steps // 4),
                seed=o.seed + round_,
                resume=True,
            )
        )

    def evaluate(self, round_: int, round_dir: Path, baseline: list[str]) -> dict[str, Any]:
        path = round_dir / "eval.json"
        if path.exists():
            return json.loads(path.read_text())
        model = str(round_dir / "train")
        with self.load(model) as engine:
            texts = generate(engine, self.heldout, self.eval_settings, desc=f"round {round_} eval")
        report = judge_report(
            self.heldout,
            texts,
            baseline,
            self.judge,
            model=model,
            baseline=self.options.model,
            split="heldout",
            generation=asdict(self.eval_settings),
        )
        report["mean_score"] = mean_scores(report["rows"])
        write_winrate_report(report, path)
        return report

    def run(self) -> dict[str, Any]:
        self.check_same_run()
        baseline = self.baseline_completions()
        rounds = []
        for round_ in range(1, self.options.rounds + 1):
            round_dir = self.dir / f"round-{round_}"
            done = round_dir / "report.json"
            if done.exists():
                rounds.append(json.loads(done.read_text()))
                continue
            round_dir.mkdir(parents=True, exist_ok=True)
            times = {}
            started = time.perf_counter()
            samples = self.sample(round_, round_dir / "samples.jsonl")
            times["sample_s"] = time.perf_counter() - started
            rows = self.build_data(round_dir, samples)
            started = time.perf_counter()
            train = self.train_round(round_, round_dir, rows)
            times["train_s"] = time.perf_counter() - started
            started = time.perf_counter()
            report = self.evaluate(round_, round_dir, baseline)
            times["eval_s"] = time.perf_counter() - started
            summary = {
                "round": round_,
                "policy": self.policy(round_),
                "model": str(round_dir / "train"),
                "training_rows": rows,
                "pairs": len((round_dir / "pairs.jsonl").read_text().splitlines()),
                "sample_mean_score": round(
                    sum(sum(s["scores"]) / len(s["scores"]) for s in samples) / len(samples), 4
                ),
                "train_steps": train["steps"],
                "heldout": {
                    "overall": report["overall"],
                    "by_language": report["by_language"],
                    "by_task": report["by_task"],
                    "mean_score": report.get("mean_score"),
                },
                # a resumed step counts only the time of the run that finished it
                "runtime_s": {k: round(v, 1) for k, v in times.items()},
            }
            write_json(summary, done)
            rounds.append(summary)
            wr = report["overall"]
            self.log(
                f"round {round_}: win rate {wr['win_rate']:.3f} "
                f"[{wr['ci95'][0]:.3f}, {wr['ci95'][1]:.3f}] vs the start model on "
                f"{wr['n']} held-out prompts"
            )
        final = {"options": asdict(self.options), "rounds": rounds}
        write_json(final, self.dir / "report.json")
        return final


def mean_scores(rows: list[dict[str, Any]]) -> dict[str, float] | None:
    """Mean judge score of model and baseline, when the judge gives scores."""
    if not rows or "score" not in rows[0]:
        return None
    n = len(rows)
    return {
        "model": round(sum(r["score"] for r in rows) / n, 4),
        "baseline": round(sum(r["baseline_score"] for r in rows) / n, 4),
    }


def run_onpolicy(options: OnPolicyOptions, **kwargs: Any) -> dict[str, Any]:
    return OnPolicyRun(options, **kwargs).run()
