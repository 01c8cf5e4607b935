"""The transformers engine: the embedded GGUF dequantised, and a tiny random model from a config."""

from __future__ import annotations

import json

import jsonschema
import pytest
import torch

from pasar.errors import ContextLengthError
from pasar.models.hf import HFEngine, cut_at_stop

CAPITAL = [{"role": "user", "content": "What is the capital of France?"}]
ORDER_SCHEMA = {
    "type": "object",
    "properties": {
        "order_id": {"type": "string", "maxLength": 12},
        "items": {"type": "integer", "minimum": 1, "maximum": 99},
    },
    "required": ["order_id", "items"],
}


@pytest.fixture(scope="module")
def tiny_engine(tiny_hf_dir):
    return HFEngine("tiny", str(tiny_hf_dir), n_ctx=256)


def test_cut_at_stop_takes_the_earliest():
    assert cut_at_stop("abc STOP def END", ["END", "STOP"]) == ("abc ", True)
    assert cut_at_stop("no stops here", ["END"]) == ("no stops here", False)


def test_gguf_greedy_answer(hf_gguf_engine):
    result = hf_gguf_engine.chat(CAPITAL, max_tokens=30)
    assert result.text == "The capital of France is Paris."
    assert result.finish_reason == "stop"
    assert result.usage.prompt_tokens == 37
    assert result.usage.completion_tokens == 7


def test_gguf_stream_and_stop(hf_gguf_engine):
    chunks = list(hf_gguf_engine.stream(CAPITAL, max_tokens=30))
    assert "".join(c.text for c in chunks) == "The capital of France is Paris."
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 7
    stopped = list(hf_gguf_engine.stream(CAPITAL, max_tokens=30, stop=[" is"]))
    assert "".join(c.text for c in stopped) == "The capital of France"
    assert hf_gguf_engine.chat(CAPITAL, max_tokens=30, stop=[" is"]).text == "The capital of France"


def test_gguf_json_schema(hf_gguf_engine):
    prompt = [{"role": "user", "content": "Give an order as JSON."}]
    result = hf_gguf_engine.chat(prompt, max_tokens=60, json_schema=ORDER_SCHEMA)
    jsonschema.validate(json.loads(result.text), ORDER_SCHEMA)


def test_gguf_logprobs_match_a_direct_forward_pass(hf_gguf_engine):
    completion = "Paris is the capital."
    scored = hf_gguf_engine.token_logprobs(CAPITAL, completion)
    tok = hf_gguf_engine.tokenizer
    prompt_ids = tok.apply_chat_template(
        CAPITAL, add_generation_prompt=True, tokenize=True, return_dict=True
    )["input_ids"]
    answer_ids = tok(completion, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = hf_gguf_engine.model(torch.tensor([prompt_ids + answer_ids])).logits[0]
    expected = [
        torch.log_softmax(logits[len(prompt_ids) + i - 1], -1)[t].item()
        for i, t in enumerate(answer_ids)
    ]
    assert scored.tokens == tok.convert_ids_to_tokens(answer_ids)
    assert scored.logprobs == pytest.approx(expected, abs=1e-4)
    # The model's own greedy answer is far likelier than an odd one.
    odd = hf_gguf_engine.token_logprobs(CAPITAL, "Bananas are purple.")
    assert (
        hf_gguf_engine.token_logprobs(CAPITAL, "The capital of France is Paris.").total > odd.total
    )


def test_tiny_model_generates_and_reports_usage(tiny_engine):
    result = tiny_engine.chat(CAPITAL, max_tokens=5)
    assert result.finish_reason in ("stop", "length")
    assert 0 < result.usage.completion_tokens <= 5
    assert result.usage.prompt_tokens == 37  # same tokenizer and template as SmolLM2


def test_tiny_model_batch_equals_one_by_one(tiny_engine):
    other = [{"role": "user", "content": "Hi"}]
    batched = tiny_engine.batch([CAPITAL, other], max_tokens=6)
    single = [tiny_engine.chat(CAPITAL, max_tokens=6), tiny_engine.chat(other, max_tokens=6)]
    assert [r.text for r in batched] == [r.text for r in single]
    assert [r.usage for r in batched] == [r.usage for r in single]


def test_tiny_model_json_schema_is_enforced_even_on_random_weights(tiny_engine):
    # A random model would never write valid JSON by itself: the grammar does it.
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    result = tiny_engine.chat(CAPITAL, max_tokens=40, json_schema=schema)
    data = json.loads(result.text)
    assert isinstance(data["ok"], bool)


def test_tiny_model_seeded_sampling_is_reproducible(tiny_engine):
    a = tiny_engine.chat(CAPITAL, max_tokens=8, temperature=1.0, seed=3).text
    b = tiny_engine.chat(CAPITAL, max_tokens=8, temperature=1.0, seed=3).text
    assert a == b


def test_tiny_model_logprobs_match_forward(tiny_engine):
    import torch

    scored = tiny_engine.token_logprobs(CAPITAL, "Paris, a city")
    answer = tiny_engine.tokenizer("Paris, a city", add_special_tokens=False)["input_ids"]
    assert len(scored.logprobs) == len(scored.tokens) == len(answer) >= 2
    # Independently: one forward pass per prefix, the last position's log-softmax at the token.
    ids = tiny_engine._prompt_ids(CAPITAL)
    expected = []
    with torch.inference_mode():
        for token in answer:
            logits = tiny_engine.model(input_ids=torch.tensor([ids])).logits[0, -1].float()
            expected.append(float(torch.log_softmax(logits, dim=-1)[token]))
            ids = [*ids, token]
    assert scored.logprobs == pytest.approx(expected, abs=1e-4)
    assert scored.total == pytest.approx(sum(expected), abs=1e-3)


def test_context_overflow_is_a_clear_error(tiny_engine):
    with pytest.raises(ContextLengthError, match="context window of 256"):
        tiny_engine.chat([{"role": "user", "content": "word " * 400}])
