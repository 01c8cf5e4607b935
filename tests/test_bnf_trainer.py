"""BNFTrainer on a tiny model built from a config: it learns from paired, good-only and bad-only
feedback, with every reference mode; resume is exact; it runs under accelerate with 2 processes."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import free_port
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer

from pasar.align.bnf import BNFCollator, BNFConfig, BNFTrainer, prepare_bnf_dataset
from pasar.align.reference import token_logps

PROMPTS = [
    "Title for a red shirt",
    "Title for blue jeans",
    "Title for a green mug",
    "Title for a black bag",
]
GOOD = ["Red Cotton Shirt", "Blue Denim Jeans", "Green Ceramic Mug", "Black Leather Bag"]
BAD = ["shirt shirt shirt", "jeans jeans", "mug mug mug mug", "bag bag"]


def conv(text: str, role: str = "assistant") -> list[dict[str, str]]:
    return [{"role": role, "content": text}]


def paired() -> Dataset:
    return Dataset.from_list(
        [
            {"prompt": conv(p, "user"), "chosen": conv(g), "rejected": conv(b)}
            for p, g, b in zip(PROMPTS, GOOD, BAD, strict=True)
        ]
    )


def unpaired(label: bool) -> Dataset:
    texts = GOOD if label else BAD
    return Dataset.from_list(
        [
            {"prompt": conv(p, "user"), "completion": conv(t), "label": label}
            for p, t in zip(PROMPTS, texts, strict=True)
        ]
    )


@pytest.fixture
def tiny(tiny_hf_dir):
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_hf_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_hf_dir)
    tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def config(tmp_path: Path, **overrides) -> BNFConfig:
    values = dict(
        output_dir=str(tmp_path / "out"),
        max_steps=15,
        per_device_train_batch_size=4,
        learning_rate=3e-2,
        ref="precompute",
        ref_cache_dir=str(tmp_path / "cache"),
        save_strategy="no",
        use_cpu=True,
        seed=0,
        plot=False,
        max_length=64,
    )
    return BNFConfig(**(values | overrides))


def mean_logps(model, tokenizer, texts: list[str]) -> float:
    """Mean per-token log-prob of completions ``texts`` after their prompts."""
    data = prepare_bnf_dataset(
        Dataset.from_list(
            [
                {"prompt": conv(p, "user"), "completion": conv(t), "label": True}
                for p, t in zip(PROMPTS, texts, strict=True)
            ]
        ),
        tokenizer,
        64,
    )
    batch = BNFCollator(pad_token_id=tokenizer.pad_token_id)(data.to_list())
    with torch.no_grad():
        logps = token_logps(model, batch["input_ids"], batch["attention_mask"])
    mask = batch["completion_mask"][:, 1:].bool()
    return logps[mask].mean().item()


@pytest.mark.parametrize("data", ["paired", "good-only", "bad-only"])
def test_bnf_raises_good_and_lowers_bad(tiny, tmp_path, data):
    model, tokenizer = tiny
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    good0, bad0 = mean_logps(model, tokenizer, GOOD), mean_logps(model, tokenizer, BAD)
    dataset = {"paired": paired(), "good-only": unpaired(True), "bad-only": unpaired(False)}[data]
    trainer = BNFTrainer(model, config(tmp_path), train_dataset=dataset, processing_class=tokenizer)
    trainer.train()
    good1, bad1 = mean_logps(model, tokenizer, GOOD), mean_logps(model, tokenizer, BAD)
    if data in ("paired", "good-only"):
        assert good1 > good0 + 0.5, (good0, good1, bad0, bad1)
    if data in ("paired", "bad-only"):
        assert bad1 < bad0 - 0.5, (good0, good1, bad0, bad1)
    moved = [n for n, p in model.named_parameters() if not torch.equal(p, before[n])]
    assert len(moved) == len(before), "every parameter should have moved"
    logs = [h for h in trainer.state.log_history if "loss" in h]
    assert all(torch.isfinite(torch.tensor(h["loss"])) for h in logs)
    assert logs[0]["kl"] == pytest.approx(0.0, abs=1e-6)  # the policy starts as the reference
    assert logs[-1]["kl"] > 0


def test_reference_modes_agree_at_the_start_and_the_cache_is_reused(tiny, tmp_path):
    model, tokenizer = tiny
    losses = {}
    for mode in ("precompute", "model"):
        torch.manual_seed(0)
        fresh = AutoModelForCausalLM.from_pretrained(tokenizer.name_or_path)
        trainer = BNFTrainer(
            fresh,
            config(tmp_path, ref=mode, max_steps=3),
            train_dataset=paired(),
            processing_class=tokenizer,
        )
        trainer.train()
        losses[mode] = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert losses["precompute"] == pytest.approx(losses["model"], rel=1e-5)
    cached = list((tmp_path / "cache").glob("ref-*.pt"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    BNFTrainer(model, config(tmp_path), train_dataset=paired(), processing_class=tokenizer)
    assert cached[0].stat().st_mtime_ns == stamp  # read back, not recomputed


def test_lora_with_the_adapter_as_reference(tiny, tmp_path):
    from peft import LoraConfig

    model, tokenizer = tiny
    good0 = mean_logps(model, tokenizer, GOOD)
    peft = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM")
    # A LoRA on a hidden-size-8 model with its output layer frozen moves slowly: good-only data.
    args = config(tmp_path, ref="adapter", learning_rate=3e-2, max_steps=20)
    trainer = BNFTrainer(
        model, args, train_dataset=unpaired(True), processing_class=tokenizer, peft_config=peft
    )
    trainer.train()
    assert mean_logps(trainer.model, tokenizer, GOOD) > good0 + 0.05
    with trainer.model.disable_adapter():  # the base model is untouched
        assert mean_logps(trainer.model, tokenizer, GOOD) == pytest.approx(good0, abs=1e-5)


def test_resume_reproduces_the_run(tiny_hf_dir, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_hf_dir)
    tokenizer.pad_token = tokenizer.eos_token

    def fresh_trainer(out: str) -> BNFTrainer:
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_pretrained(tiny_hf_dir)
        args = config(
            tmp_path,
            output_dir=str(tmp_path / out),
            max_steps=6,
            save_strategy="steps",
            save_steps=3,
            per_device_train_batch_size=2,
        )
        return BNFTrainer(model, args, train_dataset=paired(), processing_class=tokenizer)

    straight = fresh_trainer("straight")
    straight.train()
    resumed = fresh_trainer("straight")  # same directory: pick up its checkpoint-3
    resumed.train(resume_from_checkpoint=str(tmp_path / "straight" / "checkpoint-3"))
    for (name, a), (_, b) in zip(
        straight.model.named_parameters(), resumed.model.named_parameters(), strict=True
    ):
        assert torch.equal(a, b), name
    assert resumed.state.global_step == 6


def test_bad_settings_and_data_are_refused(tiny, tmp_path):
    model, tokenizer = tiny
    with pytest.raises(ValueError, match="ref='fast'"):
        config(tmp_path, ref="fast")
    with pytest.raises(ValueError, match="needs a PEFT model"):
        BNFTrainer(
            model,
            config(tmp_path, ref="adapter"),
            train_dataset=paired(),
            processing_class=tokenizer,
        )
    with pytest.raises(ValueError, match="prompt/completion/label or prompt/chosen/rejected"):
        BNFTrainer(
            model,
            config(tmp_path),
            train_dataset=Dataset.from_list([{"text": "hi"}]),
            processing_class=tokenizer,
        )


ACCELERATE_SCRIPT = """
import sys, torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from pasar.align.bnf import BNFConfig, BNFTrainer
path, out = sys.argv[1], sys.argv[2]
tok = AutoTokenizer.from_pretrained(path); tok.pad_token = tok.eos_token
torch.manual_seed(0)
model = AutoModelForCausalLM.from_pretrained(path)
p = lambda t, r="assistant": [{"role": r, "content": t}]
rows = [{"prompt": p(f"Title {i}", "user"), "chosen": p("Good title"), "rejected": p("bad bad")}
        for i in range(8)]
data = Dataset.from_list(rows)
args = BNFConfig(output_dir=out, max_steps=3, per_device_train_batch_size=2, use_cpu=True,
                 ref_cache_dir=out + "/cache", save_strategy="no", learning_rate=1e-3)
trainer = BNFTrainer(model, args, train_dataset=data, processing_class=tok)
trainer.train()
# One file per rank: two processes printing to one pipe interleave their lines.
rank = trainer.accelerator.process_index
with open(f"{out}/rank{rank}.txt", "w") as f:
    f.write(f"WORLD {trainer.accelerator.num_processes} STEPS {trainer.state.global_step}")
"""


def test_runs_distributed_with_two_cpu_processes(tiny_hf_dir, tmp_path):
    script = tmp_path / "train.py"
    script.write_text(ACCELERATE_SCRIPT)
    # accelerate's --cpu launcher starts one process; multi-process CPU runs go through
    # torch.distributed.run (what `accelerate launch --multi_gpu` uses), on the gloo backend.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_port",
            str(free_port()),
            str(script),
            str(tiny_hf_dir),
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for rank in (0, 1):
        assert (tmp_path / "out" / f"rank{rank}.txt").read_text() == "WORLD 2 STEPS 3"
    assert (tmp_path / "out" / "log.csv").exists()


def test_prompt_masking_and_eos_for_standard_and_conversational_rows(tiny):
    _, tokenizer = tiny
    standard = Dataset.from_list(
        [{"prompt": "Title for a red shirt:", "completion": " Red Cotton Shirt", "label": True}]
    )
    [row] = prepare_bnf_dataset(standard, tokenizer, 64).to_list()
    assert tokenizer.decode(row["prompt_ids"]) == "Title for a red shirt:"
    assert row["completion_ids"][-1] == tokenizer.eos_token_id  # added so the model learns to stop
    [conv_row] = prepare_bnf_dataset(unpaired(True).select([0]), tokenizer, 64).to_list()
    assert tokenizer.decode(conv_row["completion_ids"]).startswith("Red Cotton Shirt<|im_end|>")
    assert tokenizer.decode(conv_row["prompt_ids"]).endswith("<|im_start|>assistant\n")
    batch = BNFCollator(pad_token_id=tokenizer.pad_token_id)([row, conv_row])
    for i, r in enumerate((row, conv_row)):
        n_prompt, n_completion = len(r["prompt_ids"]), len(r["completion_ids"])
        assert (
            batch["completion_mask"][i].tolist()[: n_prompt + n_completion]
            == [0] * n_prompt + [1] * n_completion
        )
        assert batch["completion_mask"][i, n_prompt + n_completion :].sum() == 0  # padding
    assert batch["label"].tolist() == [True, True]


def test_gradient_accumulation_matches_a_bigger_batch(tiny_hf_dir, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_hf_dir)
    tokenizer.pad_token = tokenizer.eos_token
    params = []
    for batch, accumulate in ((4, 1), (2, 2)):
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_pretrained(tiny_hf_dir)
        # One optimizer step over the same 4 good-only rows (equal lengths per micro-batch are not
        # needed: each sequence is normalised by its own length).
        args = config(
            tmp_path,
            output_dir=str(tmp_path / f"ga{accumulate}"),
            max_steps=1,
            per_device_train_batch_size=batch,
            gradient_accumulation_steps=accumulate,
            learning_rate=1e-2,
        )
        trainer = BNFTrainer(model, args, train_dataset=unpaired(True), processing_class=tokenizer)
        trainer.train()
        params.append([p.detach().clone() for p in model.parameters()])
    for a, b in zip(*params, strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_chunked_completion_logps_equal_the_full_logits_path(tiny, tmp_path):
    from pasar.align.reference import completion_logps

    model, tokenizer = tiny
    data = prepare_bnf_dataset(paired(), tokenizer, 64).to_list()
    batch = BNFCollator(pad_token_id=tokenizer.pad_token_id)(data)
    mask = batch["completion_mask"][:, 1:].bool()
    full = token_logps(model, batch["input_ids"], batch["attention_mask"])
    (grad_full,) = torch.autograd.grad(full[mask].sum(), model.lm_head.weight)
    chunked = completion_logps(
        model,
        batch["input_ids"],
        batch["attention_mask"],
        mask,
        output_head=model.get_output_embeddings(),
        chunk=7,
    )
    (grad_chunked,) = torch.autograd.grad(chunked[mask].sum(), model.lm_head.weight)
    assert torch.allclose(chunked[mask], full[mask], atol=1e-5)
    assert torch.all(chunked[~mask] == 0)
    assert torch.allclose(grad_chunked, grad_full, atol=1e-5)
    trainer = BNFTrainer(
        model,
        config(tmp_path),
        train_dataset=paired(),
        processing_class=tokenizer,
    )
    assert trainer.chunked  # a Llama: the trainer uses the chunked path


def test_a_rows_tools_reach_the_chat_template(tiny):
    """Exported tool-calling answers carry the tools the model was offered (`tools`, a JSON
    string as TRL reads it): the prompt BNF trains on must show them as serving did."""
    _, tokenizer = tiny
    tokenizer = copy.deepcopy(tokenizer)
    tokenizer.chat_template = (
        "{% if tools %}TOOLS {% for t in tools %}{{ t.function.name }} {% endfor %}{% endif %}"
        "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"
        "{% if add_generation_prompt %}<assistant>{% endif %}"
    )
    tools = [{"type": "function", "function": {"name": "get_order_details", "parameters": {}}}]
    row = {
        "prompt": conv("Where is my order?", "user"),
        "completion": conv("Let me look."),
        "label": True,
    }
    with_tools = Dataset.from_list([row | {"tools": json.dumps(tools)}])
    [seen] = prepare_bnf_dataset(with_tools, tokenizer, 64).to_list()
    assert tokenizer.decode(seen["prompt_ids"]).startswith("TOOLS get_order_details")
    assert tokenizer.decode(seen["completion_ids"]).startswith("Let me look.")
    [plain] = prepare_bnf_dataset(Dataset.from_list([row]), tokenizer, 64).to_list()
    assert "TOOLS" not in tokenizer.decode(plain["prompt_ids"])
