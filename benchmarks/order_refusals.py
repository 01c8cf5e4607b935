"""Why did versions trained on the corrections refuse English order questions (docs/evaluate.md,
the loop)? `pasar feedback export` writes order ids as {{ORDER_ID}}, so a version learns order
answers on redacted prompts and is measured on real ids. This asks each model the held-out
English order questions greedily (128 tokens, as `pasar eval winrate` does, one at a time), once
as measured and once with the id redacted as the export writes it, and counts refusals and
answers that give the tracking number.

    python benchmarks/order_refusals.py --prompts runs/loop-lr2e-5/prompts.jsonl \
        --out docs/results/loop-order-refusals.json loop-lr2e-5-bnf-up qwen2.5-coder-0.5b-instruct
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pasar.data.redact import ORDER_ID
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
    prompts = [json.loads(line) for line in args.prompts.open()]
    orders = [
        p
        for p in prompts
        if p["split"] == "heldout" and p["task"] == "order" and p["language"] == "en"
    ]
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
                rows.append(
                    {
                        "id": p["id"],
                        "refusal": any(r in text for r in REFUSALS),
                        "tracking_given": all(t in text for t in p["facts"]["tracking_ids"]),
                        "text": text,
                    }
                )
            forms[form] = {
                "prompts": len(rows),
                "refusals": sum(r["refusal"] for r in rows),
                "tracking_given": sum(r["tracking_given"] for r in rows),
                "rows": rows,
            }
            print(model, form, {k: v for k, v in forms[form].items() if k != "rows"}, flush=True)
        result["models"][model] = forms
        engine.close()
    args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
