"""The scorecard: one model measured on everything pasar claims, with the same prompts for all.

    pasar eval scorecard --model qwen2.5-coder-1.5b-instruct --out report.json [--limit 100]

Sections, each written to ``<out>.parts/<section>.json`` as soon as it finishes, so a killed run
resumes where it stopped (and the Taskbot episodes resume one by one):

* ``speed``: prompt and generation tokens/s on llama.cpp at batch 1, peak memory, and the
  memory-bandwidth ceiling of this machine for this file (decoding one token reads every weight
  once, so tokens/s cannot exceed bandwidth / file size);
* ``translation``: chrF (sacrebleu) en→id/ms/th/vi/tl on NTREX-128 lines ``[1000, 1000+limit)``,
  beside the floor of copying the English source. No other part of pasar uses these lines as
  few-shot or training examples (pretraining's English replay reads the English side only);
* ``verifiers``: the listing-title and order-answer verifiers on the held-out prompts of
  ``pasar.evaluate.prompts`` (products and customers never in the train split);
* ``structured``: JSON-schema and tool-call validity, constrained (the engine's grammar) and
  unconstrained (the model's own JSON), and whether the right tool got the right arguments;
* ``taskbot``: the LLM agent on the held-out Taskbot scenarios, judged by the final database
  state (``pasar.apps.taskbot.evaluation``). The one place in ``evaluate/`` that runs an app:
  a scorecard composes every capability.

Every number is greedy (temperature 0), so a rerun on the same machine gives the same text.
"""

from __future__ import annotations

import json
import platform
import re
import resource
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from pasar.data.files import write_json
from pasar.evaluate.compare import Generation, generate
from pasar.evaluate.prompts import make_prompts, verify
from pasar.evaluate.translation import load_ntrex, translation_report
from pasar.languages import LANGUAGES
from pasar.models.engine import Engine

SECTIONS = ("speed", "translation", "verifiers", "structured", "taskbot")
TARGETS = ("id", "ms", "th", "vi", "tl")
NTREX_START = 1000  # scorecard sentences: NTREX lines [1000, 1000 + limit)
LIBRARIES = ("llama_cpp_python", "transformers", "torch", "trl", "sacrebleu", "pasar")


@dataclass(frozen=True)
class ScorecardConfig:
    """What a scorecard measures; the defaults are what docs/models.md reports."""

    model: str
    data_dir: Path  # ../shared/data: ntrex/, retail/db.json
    scenarios: Path  # Taskbot scenarios (examples/taskbot/scenarios.json)
    limit: int = 100  # NTREX sentences per language pair
    prompts_per_language: int = 10  # listing-title and order prompts made per language (all splits)
    taskbot_max_turns: int = 10
    sections: tuple[str, ...] = SECTIONS

    def __post_init__(self) -> None:
        unknown = set(self.sections) - set(SECTIONS)
        if unknown:
            raise ValueError(
                f"unknown sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}"
            )
        if self.limit < 1:
            raise ValueError(f"limit={self.limit}: give at least 1 sentence per pair")


def library_versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            found[name] = package_version(name.replace("_", "-"))
        except PackageNotFoundError:
            found[name] = None
    return found


def machine() -> dict[str, Any]:
    import os

    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


# -- speed ---------------------------------------------------------------------------------------


def memory_bandwidth_gb_s(megabytes: int = 512, repeats: int = 5) -> float:
    """Read bandwidth of this machine: the best of ``repeats`` sums over a large array."""
    data = np.ones(megabytes * (1 << 20) // 8)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        data.sum()
        best = min(best, time.perf_counter() - started)
    return data.nbytes / best / 1e9


def rss_mib() -> float:
    """This process's resident memory now."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def speed(
    engine: Engine, sample_text: str, rss_before_load: float, generate_tokens: int = 128
) -> dict[str, Any]:
    """Prompt and generation tokens/s of a llama.cpp engine at batch 1 (greedy, EOS ignored),
    and the memory the model added to the process (resident now minus before it was loaded)."""
    from pasar.models.llamacpp import LlamaCppEngine

    if not isinstance(engine, LlamaCppEngine):
        raise ValueError(
            f"the speed section measures llama.cpp; {engine.name} runs on {engine.kind}"
        )
    llm = engine.llm
    prompt = llm.tokenize(sample_text.encode(), add_bos=True)[:512]
    runs = []
    for _ in range(2):  # the first run warms the caches; the faster counts
        llm.reset()
        started = time.perf_counter()
        llm.eval(prompt)
        prompt_s = time.perf_counter() - started
        started = time.perf_counter()
        # generate() finds the evaluated prompt in the cache and decodes from its last token.
        for n, _token in enumerate(llm.generate(prompt, temp=0.0), start=1):
            if n == generate_tokens:
                break
        gen_s = time.perf_counter() - started
        runs.append((len(prompt) / prompt_s, generate_tokens / gen_s))
    prompt_tps, gen_tps = max(runs, key=lambda r: r[1])
    file_bytes = Path(engine.path).stat().st_size
    bandwidth = memory_bandwidth_gb_s()
    return {
        "prompt_tokens": len(prompt),
        "prompt_tokens_per_s": round(prompt_tps, 1),
        "generated_tokens": generate_tokens,
        "gen_tokens_per_s": round(gen_tps, 1),
        "model_rss_mib": round(rss_mib() - rss_before_load),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "file_bytes": file_bytes,
        "memory_bandwidth_gb_s": round(bandwidth, 2),
        "bandwidth_ceiling_tokens_per_s": round(bandwidth * 1e9 / file_bytes, 1),
        "share_of_ceiling": round(gen_tps / (bandwidth * 1e9 / file_bytes), 3),
    }


# -- translation ---------------------------------------------------------------------------------


def translation(engine: Engine, config: ScorecardConfig) -> dict[str, Any]:
    report = translation_report(
        engine,
        [("en", t) for t in TARGETS],
        ntrex=config.data_dir / "ntrex",
        start=NTREX_START,
        limit=config.limit,
        batch_size=8,
        max_tokens=160,
    )
    pairs = report["pairs"]
    return {
        "dataset": report["dataset"],
        "pairs": {
            p["pair"]: {
                k: p[k]
                for k in (
                    "sentences",
                    "chrf",
                    "bleu",
                    "target_language_rate",
                    "copy_source",
                    "seconds",
                )
            }
            for p in pairs
        },
        "mean_chrf": round(sum(p["chrf"] for p in pairs) / len(pairs), 2),
        "mean_copy_chrf": round(sum(p["copy_source"]["chrf"] for p in pairs) / len(pairs), 2),
        "outputs": {p["pair"]: p["outputs"] for p in pairs},
    }


# -- verifiers -----------------------------------------------------------------------------------


def _rate(values: list[bool]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def verifiers(engine: Engine, config: ScorecardConfig) -> dict[str, Any]:
    db = json.loads((config.data_dir / "retail" / "db.json").read_text())
    rows = [
        r
        for r in make_prompts(db, per_language=config.prompts_per_language, seed=0)
        if r["split"] == "heldout"
    ]
    texts = generate(engine, rows, Generation(max_tokens=128, batch_size=8), desc="verifiers")
    passed = [verify(row, text).passed for row, text in zip(rows, texts, strict=True)]
    by: dict[str, dict[str, list[bool]]] = {"task": {}, "language": {}}
    for row, ok in zip(rows, passed, strict=True):
        by["task"].setdefault(row["task"], []).append(ok)
        by["language"].setdefault(row["language"], []).append(ok)
    return {
        "prompts": len(rows),
        "split": "heldout",
        "pass_rate": _rate(passed),
        "by_task": {k: {"n": len(v), "pass_rate": _rate(v)} for k, v in by["task"].items()},
        "by_language": {k: {"n": len(v), "pass_rate": _rate(v)} for k, v in by["language"].items()},
        "items": [
            {"id": r["id"], "passed": ok, "output": t}
            for r, ok, t in zip(rows, passed, texts, strict=True)
        ],
    }


# -- structured output ---------------------------------------------------------------------------

PRODUCT_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "price": {"type": "number"},
        "currency": {"type": "string", "enum": ["USD", "IDR", "MYR", "THB", "VND", "PHP"]},
    },
    "required": ["name", "price", "currency"],
    "additionalProperties": False,
}

JSON_REQUEST = {
    "en": "Return this product as JSON with name, price and currency: {item}",
    "id": "Kembalikan produk ini sebagai JSON dengan name, price dan currency: {item}",
    "ms": "Pulangkan produk ini sebagai JSON dengan name, price dan currency: {item}",
    "th": "ส่งคืนสินค้านี้เป็น JSON ที่มี name, price และ currency: {item}",
    "vi": "Trả về sản phẩm này dưới dạng JSON với name, price và currency: {item}",
    "tl": "Ibalik ang produktong ito bilang JSON na may name, price at currency: {item}",
}

TOOL_REQUESTS = {
    "en": (
        "My email is {email}. Can you find my account?",
        "Where is my order {order_id}? Please look up its details.",
    ),
    "id": (
        "Email saya {email}. Bisa tolong cari akun saya?",
        "Di mana pesanan saya {order_id}? Tolong cek detailnya.",
    ),
    "ms": (
        "E-mel saya {email}. Boleh tolong cari akaun saya?",
        "Di mana pesanan saya {order_id}? Tolong semak butirannya.",
    ),
    "th": (
        "อีเมลของฉันคือ {email} ช่วยค้นหาบัญชีของฉันหน่อย",
        "คำสั่งซื้อ {order_id} ของฉันอยู่ที่ไหน ช่วยตรวจสอบรายละเอียดให้หน่อย",
    ),
    "vi": (
        "Email của tôi là {email}. Bạn tìm giúp tài khoản của tôi được không?",
        "Đơn hàng {order_id} của tôi đang ở đâu? Vui lòng kiểm tra chi tiết giúp tôi.",
    ),
    "tl": (
        "Ang email ko ay {email}. Pakihanap ang account ko.",
        "Nasaan na ang order kong {order_id}? Pakitingnan ang detalye nito.",
    ),
}


def _json_in(text: str) -> Any:
    """The JSON object a reply holds, fenced in markdown or bare; None when there is none."""
    fenced = re.search(r"```(?:json)?\s*(.*?)```", text, re.DOTALL)
    candidate = fenced.group(1) if fenced else text[text.find("{") : text.rfind("}") + 1]
    try:
        return json.loads(candidate)
    except json.JSONDecodeError:
        return None


def structured_items(db: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One JSON item and two tool-call items per language, from the retail database."""
    products = sorted(db["products"].values(), key=lambda p: p["product_id"])
    users = sorted(db["users"].values(), key=lambda u: u["user_id"])
    orders = sorted(db["orders"].values(), key=lambda o: o["order_id"])
    json_items, tool_items = [], []
    for i, language in enumerate(LANGUAGES):
        product = products[7 * i % len(products)]
        variant = sorted(product["variants"].values(), key=lambda v: v["item_id"])[0]
        options = ", ".join(f"{k} {v}" for k, v in variant["options"].items())
        item = f"{product['name']} ({options}), {variant['price']} USD"
        json_items.append(
            {
                "language": language,
                "prompt": JSON_REQUEST[language].format(item=item),
                "price": variant["price"],
                "name": product["name"],
            }
        )
        email_request, order_request = TOOL_REQUESTS[language]
        user, order = users[11 * i % len(users)], orders[13 * i % len(orders)]
        tool_items.append(
            {
                "language": language,
                "prompt": email_request.format(email=user["email"]),
                "tool": "find_user_id_by_email",
                "arguments": {"email": user["email"]},
            }
        )
        tool_items.append(
            {
                "language": language,
                "prompt": order_request.format(order_id=order["order_id"]),
                "tool": "get_order_details",
                "arguments": {"order_id": order["order_id"]},
            }
        )
    return json_items, tool_items


def structured(
    engine: Engine, config: ScorecardConfig, items: tuple[list, list] | None = None
) -> dict[str, Any]:
    """JSON and tool-call validity. Constrained output fits the schema unless the model ran out
    of tokens inside it (``*_truncated``: a small model may repeat a call or a string until
    ``max_tokens``); free JSON is the model's own, unconstrained."""
    import jsonschema

    from pasar.apps.taskbot.tools import tool_schemas

    json_items, tool_items = items or structured_items(
        json.loads((config.data_dir / "retail" / "db.json").read_text())
    )
    validator = jsonschema.Draft202012Validator(PRODUCT_SCHEMA)
    rows = []
    for item in tqdm(json_items, desc="json", unit="item"):
        messages = [{"role": "user", "content": item["prompt"]}]
        constrained = engine.chat(messages, max_tokens=128, json_schema=PRODUCT_SCHEMA)
        free = engine.chat(messages, max_tokens=192)
        row: dict[str, Any] = {"language": item["language"], "truncated": False}
        for key, result in (("constrained", constrained), ("free", free)):
            value = _json_in(result.text)
            valid = isinstance(value, dict) and not list(validator.iter_errors(value))
            row[key] = {"valid": valid, "output": result.text}
            if key == "constrained":
                row["truncated"] = result.finish_reason == "length"
                row["correct"] = valid and abs(float(value["price"]) - item["price"]) < 0.01
        rows.append(row)
    tools = tool_schemas()
    calls = []
    for item in tqdm(tool_items, desc="tool calls", unit="item"):
        result = engine.chat(
            [{"role": "user", "content": item["prompt"]}], max_tokens=128, tools=tools
        )
        made = result.tool_calls or []
        calls.append(
            {
                "language": item["language"],
                "truncated": result.finish_reason == "length",
                "valid": bool(made),
                "correct": bool(made)
                and made[0].name == item["tool"]
                and made[0].arguments == item["arguments"],
                "call": {"name": made[0].name, "arguments": made[0].arguments} if made else None,
                "text": result.text,
            }
        )
    return {
        "json_items": len(rows),
        "tool_items": len(calls),
        "json_constrained_valid": _rate([r["constrained"]["valid"] for r in rows]),
        "json_constrained_truncated": sum(r["truncated"] for r in rows),
        "json_constrained_correct": _rate([r["correct"] for r in rows]),
        "json_free_valid": _rate([r["free"]["valid"] for r in rows]),
        "tool_call_valid": _rate([c["valid"] for c in calls]),
        "tool_call_truncated": sum(c["truncated"] for c in calls),
        "tool_call_correct": _rate([c["correct"] for c in calls]),
        "json": rows,
        "tool_calls": calls,
    }


# -- taskbot -------------------------------------------------------------------------------------


def taskbot(engine: Engine, config: ScorecardConfig, episodes_file: Path) -> dict[str, Any]:
    from pasar.apps.taskbot.environment import load_template
    from pasar.apps.taskbot.evaluation import evaluate, scenario_case
    from pasar.apps.taskbot.llm_agent import LLMAgent
    from pasar.apps.taskbot.scenarios import load_scenarios

    cases = [scenario_case(s) for s in load_scenarios(config.scenarios, "heldout")]
    report, _ = evaluate(
        cases,
        lambda env, language: LLMAgent(engine, env, language),
        load_template(config.data_dir / "retail" / "db.json"),
        max_turns=config.taskbot_max_turns,
        episodes_file=episodes_file,
    )
    return {"scenarios": str(config.scenarios), "split": "heldout", **report}


# -- the whole card ------------------------------------------------------------------------------


def summary(sections: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers of a scorecard, one per capability."""
    get: Callable[[str, str], Any] = lambda s, k: (sections.get(s) or {}).get(k)  # noqa: E731
    return {
        "gen_tokens_per_s": get("speed", "gen_tokens_per_s"),
        "prompt_tokens_per_s": get("speed", "prompt_tokens_per_s"),
        "model_rss_mib": get("speed", "model_rss_mib"),
        "mean_chrf": get("translation", "mean_chrf"),
        "mean_copy_chrf": get("translation", "mean_copy_chrf"),
        "verifier_pass_rate": get("verifiers", "pass_rate"),
        "json_free_valid": get("structured", "json_free_valid"),
        "tool_call_correct": get("structured", "tool_call_correct"),
        "taskbot_completion": get("taskbot", "completion_rate"),
    }


def run_scorecard(
    config: ScorecardConfig, out: Path, load: Callable[[str], Engine]
) -> dict[str, Any]:
    """Measure ``config.model`` section by section (resuming finished ones) and write ``out``
    with every section finished so far, whichever run finished it."""
    from pasar.models.registry import model_version, resolve_model

    parts = out.with_name(out.name + ".parts")
    parts.mkdir(parents=True, exist_ok=True)
    config_file = parts / "config.json"
    # Which sections run may differ between runs; what they measure may not.
    wanted = json.loads(json.dumps(asdict(config), default=str))
    wanted.pop("sections")
    if config_file.exists() and json.loads(config_file.read_text()) != wanted:
        raise ValueError(
            f"{parts} holds a scorecard made with other settings; delete it or choose another --out"
        )
    write_json(wanted, config_file)
    sections: dict[str, Any] = {}
    engine: Engine | None = None
    rss_before_load = rss_mib()
    try:
        for name in SECTIONS:  # every finished section is reported; the asked-for ones run
            part = parts / f"{name}.json"
            if part.exists():
                sections[name] = json.loads(part.read_text())
                continue
            if name not in config.sections:
                continue
            engine = engine or load(config.model)
            started = time.perf_counter()
            if name == "speed":
                text = " ".join(load_ntrex(config.data_dir / "ntrex", "en", None)[:40])
                result = speed(engine, text, rss_before_load)
            elif name == "translation":
                result = translation(engine, config)
            elif name == "verifiers":
                result = verifiers(engine, config)
            elif name == "structured":
                result = structured(engine, config)
            else:
                result = taskbot(engine, config, parts / "taskbot.episodes.jsonl")
            result["seconds"] = round(time.perf_counter() - started, 1)
            write_json(result, part)
            sections[name] = result
    finally:
        if engine is not None:
            engine.close()
    spec = resolve_model(config.model)
    report = {
        "model": config.model,
        "version": model_version(spec),
        "engine": spec.engine,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": wanted,
        "libraries": library_versions(),
        "machine": machine(),
        "summary": summary(sections),
        "sections_missing": [s for s in SECTIONS if s not in sections],
        **sections,
    }
    write_json(report, out)
    return report
