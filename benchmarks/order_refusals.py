"""Why did versions trained on the corrections refuse English order questions (docs/evaluate.md,
the loop)? `pasar feedback export` writes order ids as {{ORDER_ID}}, so a version learns order
answers on redacted prompts and is measured on real ids. This asks each model the held-out
English order questions greedily (128 tokens, as `pasar eval winrate` does, one at a time), once
as measured and once with the id redacted as the export writes it, and counts refusals beside
the order verifier's mean score (the loop table's judge).

    python benchmarks/order_refusals.py --prompts runs/loop-lr2e-5/prompts.jsonl \
        --out docs/results/loop-order-refusals.json loop-lr2e-5-bnf-up qwen2.5-coder-0.5b-instruct
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pasar.data.redact import ORDER_ID
from pasar.evaluate.prompts import read_prompts, verify
from pasar.models.registry import load_engine

REFUSALS = ("can't assist", "cannot assist")


def redacted(prompt: dict[str, Any]) -> list[dict[str, str]]:
    order_id = prompt["facts"]["order_id"]
    return [{**m, "content": m["content"].replace(order_id, ORDER_ID)} for m in prompt["messages"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="Model names (`pasar models list`).")
    parser.add_argument("--prompts", type=Path, required=True, help="`pasar eval prompts` file.")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    heldout = read_prompts(args.prompts, "heldout")
    orders = [p for p in heldout if p["task"] == "order" and p["language"] == "en"]
    result: dict[str, Any] = {"prompts": str(args.prompts), "split": "heldout", "models": {}}
    for model in args.models:
        engine = load_engine(model)
        forms = {}
        for form, messages in (("real ids", lambda p: p["messages"]), ("redacted ids", redacted)):
            rows = []
            for p in orders:
                text = engine.chat(
                    messages(p), temperature=0.0, top_p=1.0, max_tokens=128, seed=0
                ).text
                verdict = verify(p, text)
                rows.append(
                    {
                        "id": p["id"],
                        "refusal": any(r in text for r in REFUSALS),
                        "score": verdict.score,
                        "problems": verdict.problems,
                        "text": text,
                    }
                )
            forms[form] = {
                "prompts": len(rows),
                "refusals": sum(r["refusal"] for r in rows),
                "mean_score": round(sum(r["score"] for r in rows) / len(rows), 4),
                "rows": rows,
            }
            print(model, form, {k: v for k, v in forms[form].items() if k != "rows"}, flush=True)
        result["models"][model] = forms
        engine.close()
    args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
