"""SFT on conversations learns the assistant's turns only (the tool list, tool results and user
turns are context, not targets), and the saved model keeps its own chat template."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from pasar.align.chat_templates import SMOLLM2_TEMPLATE, training_chat_template
from pasar.align.run import AlignOptions, build_trainer, run_alignment
from pasar.data.datasets import load_data_file

CONVERSATION = [
    {"role": "system", "content": "You can call these tools: find_user_id_by_email(email: string)"},
    {"role": "user", "content": "Hi, I am ana@example.com"},
    {"role": "assistant", "content": '{"tool_calls": [{"name": "find_user_id_by_email"}]}'},
    {"role": "user", "content": 'Tool result: "ana_1"'},
    {"role": "assistant", "content": '{"content": "Thanks Ana, you are signed in."}'},
]


def test_training_template_renders_the_same_text_and_marks_only_assistant_tokens(
    tiny_hf_dir: Path,
):
    tokenizer = AutoTokenizer.from_pretrained(tiny_hf_dir)
    assert tokenizer.chat_template == SMOLLM2_TEMPLATE
    template = training_chat_template(tokenizer)
    assert template and "{% generation %}" in template
    plain = tokenizer.apply_chat_template(CONVERSATION, tokenize=False)
    assert (
        tokenizer.apply_chat_template(CONVERSATION, tokenize=False, chat_template=template) == plain
    )
    marked = tokenizer.apply_chat_template(
        CONVERSATION, chat_template=template, return_assistant_tokens_mask=True, return_dict=True
    )
    targets = [t for t, m in zip(marked["input_ids"], marked["assistant_masks"], strict=True) if m]
    assert tokenizer.decode(targets) == (
        CONVERSATION[2]["content"] + "<|im_end|>" + CONVERSATION[4]["content"] + "<|im_end|>"
    )


def test_sft_on_messages_puts_labels_on_assistant_turns_only(tiny_hf_dir: Path, tmp_path: Path):
    data = tmp_path / "sft.jsonl"
    data.write_text(json.dumps({"messages": CONVERSATION}) + "\n")
    options = AlignOptions(
        method="sft",
        model=str(tiny_hf_dir),
        data=str(data),
        output_dir=str(tmp_path / "out"),
        max_steps=1,
        batch_size=1,
        max_length=256,
    )
    from pasar.models.weights import load_trainable

    model, tokenizer = load_trainable(options.model)
    trainer = build_trainer(options, model, tokenizer, load_data_file(options.data))
    batch = trainer.data_collator([trainer.train_dataset[0]])
    ids, labels = batch["input_ids"][0], batch["labels"][0]
    learned = tokenizer.decode(ids[labels != -100])
    assert learned == (
        CONVERSATION[2]["content"] + "<|im_end|>" + CONVERSATION[4]["content"] + "<|im_end|>"
    )
    assert tokenizer.chat_template == SMOLLM2_TEMPLATE  # the caller's tokenizer is untouched

    report = run_alignment(options)
    assert report["loss_on"] == "assistant turns"
    saved = AutoTokenizer.from_pretrained(tmp_path / "out")
    assert saved.chat_template == SMOLLM2_TEMPLATE  # llama.cpp cannot read generation markers


def test_drop_longer_keeps_whole_conversations_only(tiny_hf_dir: Path, tmp_path: Path):
    from datasets import Dataset

    from pasar.align.run import rows_that_fit

    tokenizer = AutoTokenizer.from_pretrained(tiny_hf_dir)
    long = [*CONVERSATION[:-1], {"role": "assistant", "content": "word " * 400}]
    dataset = Dataset.from_list([{"messages": CONVERSATION}, {"messages": long}])
    short_tokens = len(tokenizer.apply_chat_template(CONVERSATION, return_dict=True)["input_ids"])
    kept = rows_that_fit(dataset, tokenizer, short_tokens)
    assert [row["messages"] for row in kept] == [CONVERSATION]
    with pytest.raises(ValueError, match="no conversation fits in --max-length 10"):
        rows_that_fit(dataset, tokenizer, 10)
    with pytest.raises(ValueError, match="--drop-longer is for sft"):
        AlignOptions(method="bnf", model="m", data="d", output_dir="o", drop_longer=True)
