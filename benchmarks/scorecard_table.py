"""The scorecard table of docs/models.md, and the default model it chooses.

    .venv/bin/python benchmarks/scorecard_table.py docs/results/scorecard-*.json \
        --markdown docs/results/scorecard-table.md

The rule for the default (stated in docs/models.md): among the instruct models whose generation
here is at least MIN_CHAT_TOKENS_PER_S (about twice the ~5 words/s a person reads, so a streamed
reply never keeps them waiting), the one with the best mean of its capability scores
(translation chrF / 100, verifier pass rate, correct tool calls, Taskbot completion).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

MIN_CHAT_TOKENS_PER_S = 10.0
CAPABILITIES = ("mean_chrf", "verifier_pass_rate", "tool_call_correct", "taskbot_completion")


def capability_score(summary: dict[str, Any]) -> float | None:
    """The mean of the four capabilities; None while any of them is unmeasured."""
    values = [summary[k] for k in CAPABILITIES]
    if any(v is None for v in values):
        return None
    return (values[0] / 100 + sum(values[1:])) / len(values)


def choose_default(reports: list[dict[str, Any]]) -> str | None:
    """The rule of docs/models.md (only fully measured models compete)."""
    usable = [
        r
        for r in reports
        if r.get("instruct")
        and (r["summary"]["gen_tokens_per_s"] or 0) >= MIN_CHAT_TOKENS_PER_S
        and capability_score(r["summary"]) is not None
    ]
    best = max(usable, key=lambda r: capability_score(r["summary"]) or 0.0, default=None)
    return best["model"] if best else None


def fmt(value: Any, digits: int = 3) -> str:
    return (
        "–" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)
    )


PAIRS = ["en-id", "en-ms", "en-th", "en-vi", "en-tl"]


def markdown(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"


def pair_cell(pair: dict[str, Any]) -> str:
    return f"{fmt(pair.get('chrf'), 1)} ({fmt(pair.get('copy_source', {}).get('chrf'), 1)})"


def table(reports: list[dict[str, Any]]) -> str:
    """Three tables: capabilities (with the score), translation per pair, speed and memory."""
    capability, translation, speed = [], [], []
    for r in reports:
        s, name = r["summary"], f"`{r['model']}`"
        st, tb, ver = r.get("structured", {}), r.get("taskbot", {}), r.get("verifiers", {})
        capability.append(
            [
                name,
                f"{fmt(s['mean_chrf'], 1)} ({fmt(s['mean_copy_chrf'], 1)})",
                f"{fmt(s['verifier_pass_rate'])} (n={ver.get('prompts', '–')})",
                f"{fmt(st.get('json_free_valid'))} / {fmt(st.get('json_constrained_valid'))}",
                f"{fmt(st.get('tool_call_valid'))} / {fmt(s['tool_call_correct'])}",
                f"{fmt(s['taskbot_completion'])} (n={tb.get('episodes', '–')})",
                f"**{fmt(capability_score(s))}**",
            ]
        )
        pairs = r.get("translation", {}).get("pairs", {})
        translation.append([name] + [pair_cell(pairs.get(p, {})) for p in PAIRS])
        sp = r.get("speed", {})
        speed.append(
            [
                name,
                fmt(s["gen_tokens_per_s"], 1),
                fmt(s["prompt_tokens_per_s"], 1),
                fmt(sp.get("bandwidth_ceiling_tokens_per_s"), 1),
                fmt(sp.get("share_of_ceiling")),
                fmt(s["model_rss_mib"]),
            ]
        )
    return (
        markdown(
            [
                "model",
                "chrF mean (copy floor)",
                "verifiers pass",
                "JSON valid: free / constrained",
                "tool calls: valid / right",
                "Taskbot completion",
                "score",
            ],
            capability,
        )
        + "\n"
        + markdown(["model", *(f"chrF {p} (copy)" for p in PAIRS)], translation)
        + "\n"
        + markdown(
            [
                "model",
                "generation tok/s",
                "prompt tok/s",
                "ceiling tok/s",
                "share of ceiling",
                "memory added, MiB",
            ],
            speed,
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("reports", nargs="+", type=Path)
    parser.add_argument("--markdown", type=Path, required=True)
    args = parser.parse_args()
    from pasar.models.embedded import CARDS

    reports = [json.loads(p.read_text()) for p in args.reports]
    for r in reports:
        card = CARDS.get(r["model"])
        r["instruct"] = card.instruct if card else True
    reports.sort(key=lambda r: -(capability_score(r["summary"]) or -1.0))
    default = choose_default(reports)
    text = table(reports) + (
        f"\nDefault by the rule (instruct, generation ≥ {MIN_CHAT_TOKENS_PER_S:.0f} tok/s, best "
        f"score): `{default}`.\n"
    )
    args.markdown.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
