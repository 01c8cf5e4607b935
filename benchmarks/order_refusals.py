"""Why did versions trained on the corrections refuse English order questions (docs/evaluate.md,
the loop)? For each winrate report given with ``--report NAME=PATH`` it counts, over the held-out
English order answers already in the report, those that open with a greeting and those that
refuse or apologise, beside the order verifier's mean score (nothing is generated). For each
model it asks the same questions greedily (128 tokens, as `pasar eval winrate` does, one at a
time): once as measured, once with the id redacted as `pasar feedback export` writes it (so a
version learns order answers on redacted prompts and is measured on real ids), and once per
``--opener`` with the answer made to begin with that text (the chat template's prompt, then the
opener, then the model's own continuation, on the same GGUF and sampling).

    python benchmarks/order_refusals.py --prompts runs/loop-lr2e-5/prompts.jsonl \
        --out docs/results/loop-order-refusals.json --opener "Hi!" --opener "The order" \
        $(for r in start:loop-start bnf-r1:loop-lr2e-5-bnf-r1 kto:loop-lr2e-5-kto \
            sft-corrections:loop-lr2e-5-sft-corrections dpo:loop-lr2e-5-dpo \
            dpo-live-ref:loop-lr2e-5-dpo-live-ref bnf-up:loop-lr2e-5-bnf-up; do
            echo --report ${r%%:*}=docs/results/${r#*:}-winrate.json; done) \
        loop-lr2e-5-bnf-up qwen2.5-coder-0.5b-instruct
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from pasar.data.redact import ORDER_ID
from pasar.evaluate.prompts import read_prompts, verify
from pasar.models.llamacpp import chat_template
from pasar.models.registry import load_engine

REFUSALS = ("can't assist", "cannot assist", "I'm sorry")
GREETING = re.compile(r"\s*(hi|hello)\b", re.IGNORECASE)


def summary(orders: list[dict[str, Any]], texts: list[str]) -> dict[str, Any]:
    """Greetings, refusals and the verifier's mean score over the answers, with every row."""
    rows = []
    for p, text in zip(orders, texts, strict=True):
        verdict = verify(p, text)
        rows.append(
            {
                "id": p["id"],
                "greeting": bool(GREETING.match(text)),
                "refusal": any(r in text for r in REFUSALS),
                "score": verdict.score,
                "problems": verdict.problems,
                "text": text,
            }
        )
    return {
        "prompts": len(rows),
        "greetings": sum(r["greeting"] for r in rows),
        "refusals": sum(r["refusal"] for r in rows),
        "mean_score": round(sum(r["score"] for r in rows) / len(rows), 4),
        "rows": rows,
    }


def redacted(prompt: dict[str, Any]) -> list[dict[str, str]]:
    order_id = prompt["facts"]["order_id"]
    return [{**m, "content": m["content"].replace(order_id, ORDER_ID)} for m in prompt["messages"]]


def opened_answers(engine: Any, prompts: list[dict[str, Any]], opener: str) -> list[str]:
    """Each prompt's answer made to begin with ``opener``: a second llama.cpp context on the
    engine's GGUF, its chat template and repeat penalty, greedy, 128 tokens."""
    import llama_cpp

    llm = llama_cpp.Llama(model_path=engine.llm.model_path, n_ctx=2048, verbose=False)
    template = chat_template(llm)
    answers = []
    for p in prompts:
        formatted = template(messages=p["messages"])
        done = llm.create_completion(
            formatted.prompt + opener,
            max_tokens=128,
            temperature=0.0,
            repeat_penalty=engine.repeat_penalty,
            stop=formatted.stop,
            seed=0,
        )
        answers.append(opener + done["choices"][0]["text"])
    llm.close()
    return answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", help="Model names (`pasar models list`).")
    parser.add_argument("--prompts", type=Path, required=True, help="`pasar eval prompts` file.")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--opener", action="append", default=[], help="Also answer beginning with this text."
    )
    parser.add_argument(
        "--report", action="append", default=[], help="NAME=PATH of a `pasar eval winrate` report."
    )
    args = parser.parse_args()
    heldout = read_prompts(args.prompts, "heldout")
    orders = [p for p in heldout if p["task"] == "order" and p["language"] == "en"]
    by_id = {p["id"]: p for p in orders}
    result: dict[str, Any] = {
        "prompts": str(args.prompts),
        "split": "heldout",
        "reports": {},
        "models": {},
    }
    for name, path in (r.split("=", 1) for r in args.report):
        rows = [r for r in json.loads(Path(path).read_text())["rows"] if r["id"] in by_id]
        found = summary([by_id[r["id"]] for r in rows], [r["completion"] for r in rows])
        result["reports"][name] = {"report": path} | found
        print(name, {k: v for k, v in found.items() if k != "rows"}, flush=True)
    for model in args.models:
        engine = load_engine(model)
        answers = {
            form: [
                engine.chat(messages(p), temperature=0.0, top_p=1.0, max_tokens=128, seed=0).text
                for p in orders
            ]
            for form, messages in (
                ("real ids", lambda p: p["messages"]),
                ("redacted ids", redacted),
            )
        }
        for opener in args.opener:
            answers[f"opened with {opener!r}"] = opened_answers(engine, orders, opener)
        forms = {}
        for form, texts in answers.items():
            forms[form] = summary(orders, texts)
            print(model, form, {k: v for k, v in forms[form].items() if k != "rows"}, flush=True)
        result["models"][model] = forms
        engine.close()
    args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
