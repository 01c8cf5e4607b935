"""The transformers engine: any Hugging Face model directory or GGUF file, on CPU or CUDA.

It is slower than llama.cpp for generation on CPU (a GGUF is dequantised to fp32), but it is
the engine training and scoring use: ``token_logprobs`` gives exact per-token log-probabilities
of a completion under the model. JSON schemas are enforced with xgrammar's logits processor.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import xgrammar as xgr
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    TextIteratorStreamer,
)

from pasar.errors import ContextLengthError, InvalidSchemaError
from pasar.models.engine import Engine, SamplingParams
from pasar.models.schema import handles_tool_role
from pasar.models.types import ChatChunk, ChatResult, FinishReason, Message, Usage


def load_hf(source: str, device: str, dtype: torch.dtype) -> tuple[Any, Any]:
    """Load a model and tokenizer from an HF directory or a single GGUF file."""
    path = Path(source)
    kwargs: dict[str, Any] = {}
    if path.suffix == ".gguf":
        path, kwargs["gguf_file"] = path.parent, path.name
    tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
    model: Any = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **kwargs)
    model.to(device).eval()
    return model, tokenizer


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """Text before the earliest stop string, and whether one was found (OpenAI semantics)."""
    hits = [i for i in (text.find(s) for s in stops) if i >= 0]
    return (text[: min(hits)], True) if hits else (text, False)


@dataclass(frozen=True)
class TokenLogprobs:
    tokens: list[str]
    logprobs: list[float]

    @property
    def total(self) -> float:
        return float(sum(self.logprobs))


class HFEngine(Engine):
    kind = "hf"

    def __init__(
        self,
        name: str,
        source: str,
        *,
        n_ctx: int = 2048,
        device: str | None = None,
        dtype: torch.dtype | None = None,
        model: PreTrainedModel | None = None,
        tokenizer: PreTrainedTokenizerBase | None = None,
    ):
        super().__init__(name)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = dtype or (torch.bfloat16 if self.device.startswith("cuda") else torch.float32)
        if model is None or tokenizer is None:
            model, tokenizer = load_hf(source, self.device, dtype)
        # transformers' type stubs are too loose/wrong for mypy to help here.
        self.model: Any = model
        self.tokenizer: Any = tokenizer
        self.tool_role = handles_tool_role(getattr(self.tokenizer, "chat_template", None))
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "left"  # generation continues on the right
        self.n_ctx = n_ctx
        self._compiler: xgr.GrammarCompiler | None = None
        self._lock = threading.Lock()

    # -- helpers -------------------------------------------------------------------------------
    def _prompt_ids(self, messages: list[Message]) -> list[int]:
        ids: list[int] = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, return_dict=True
        )["input_ids"]
        if len(ids) >= self.n_ctx:
            raise ContextLengthError(
                f"the prompt has {len(ids)} tokens and does not fit the context window of "
                f"{self.n_ctx}. Shorten the conversation or raise PASAR_N_CTX / n_ctx"
            )
        return ids

    def _grammar_processor(self, schema: dict[str, Any]) -> xgr.contrib.hf.LogitsProcessor:
        if self._compiler is None:
            info = xgr.TokenizerInfo.from_huggingface(
                self.tokenizer, vocab_size=self.model.config.vocab_size
            )
            self._compiler = xgr.GrammarCompiler(info)
        try:
            # Compact JSON: a small or untrained model cannot then wander off into whitespace.
            compiled = self._compiler.compile_json_schema(json.dumps(schema), any_whitespace=False)
        except RuntimeError as exc:
            raise InvalidSchemaError(f"xgrammar cannot compile this JSON schema: {exc}") from exc
        return xgr.contrib.hf.LogitsProcessor(compiled)

    def _generate_kwargs(
        self, prompt_len: int, params: SamplingParams, json_schema: dict[str, Any] | None
    ) -> dict[str, Any]:
        if params.seed is not None:
            torch.manual_seed(params.seed)
        sampling = params.temperature > 0
        kwargs: dict[str, Any] = {
            # Like llama.cpp: never generate past the context window.
            "max_new_tokens": min(params.max_tokens, self.n_ctx - prompt_len),
            "do_sample": sampling,
            "temperature": params.temperature if sampling else None,
            "top_p": params.top_p if sampling else None,
            "top_k": None,
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if params.stop:
            kwargs |= {"stop_strings": list(params.stop), "tokenizer": self.tokenizer}
        if json_schema is not None:
            kwargs["logits_processor"] = [self._grammar_processor(json_schema)]
        return kwargs

    def _finish(self, new_ids: list[int], params: SamplingParams) -> tuple[str, FinishReason, int]:
        """Decode generated ids into (text, finish reason, completion token count)."""
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos]) | {self.tokenizer.eos_token_id}
        ended = next((i for i, t in enumerate(new_ids) if t in eos_ids), None)
        kept = new_ids if ended is None else new_ids[:ended]
        text, stopped = cut_at_stop(
            self.tokenizer.decode(kept, skip_special_tokens=True), params.stop
        )
        reason: FinishReason = "stop" if ended is not None or stopped else "length"
        return text, reason, len(kept)

    # -- the contract --------------------------------------------------------------------------
    def _complete(
        self,
        messages: list[Message],
        params: SamplingParams,
        json_schema: dict[str, Any] | None,
        tools: list[dict[str, Any]] | None,
    ) -> ChatResult:
        return self._complete_batch([messages], params, json_schema)[0]

    def _complete_batch(
        self,
        conversations: list[list[Message]],
        params: SamplingParams,
        json_schema: dict[str, Any] | None,
    ) -> list[ChatResult]:
        prompts = [self._prompt_ids(m) for m in conversations]
        width = max(len(p) for p in prompts)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor(
            [[pad] * (width - len(p)) + p for p in prompts]
        )  # (B, T) left-padded
        attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
        with self._lock, torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids.to(self.device),
                attention_mask=attention.to(self.device),
                **self._generate_kwargs(width, params, json_schema),
            )
        results = []
        for prompt, row in zip(prompts, out[:, width:].tolist(), strict=True):
            text, reason, n = self._finish(row, params)
            results.append(ChatResult(text, reason, Usage(len(prompt), n), self.name))
        return results

    def _stream(
        self, messages: list[Message], params: SamplingParams, json_schema: dict[str, Any] | None
    ) -> Iterator[ChatChunk]:
        prompt = self._prompt_ids(messages)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        generated: list[Any] = []

        def run() -> None:
            with self._lock, torch.inference_mode():
                generated.append(
                    self.model.generate(
                        input_ids=torch.tensor([prompt], device=self.device),
                        streamer=streamer,
                        **self._generate_kwargs(len(prompt), params, json_schema),
                    )
                )

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        # Hold back as many characters as the longest stop string, so that no part of a stop
        # string is ever sent before we know it is one.
        holdback = max((len(s) for s in params.stop), default=1) - 1
        text, sent = "", 0
        for piece in streamer:
            text += piece
            visible, stopped = cut_at_stop(text, params.stop)
            if stopped:
                break
            if len(visible) - holdback > sent:
                yield ChatChunk(visible[sent : len(visible) - holdback])
                sent = len(visible) - holdback
        worker.join()
        final, reason, n = self._finish(generated[0][0, len(prompt) :].tolist(), params)
        yield ChatChunk(final[sent:], finish_reason=reason, usage=Usage(len(prompt), n))

    # -- scoring -------------------------------------------------------------------------------
    def token_logprobs(self, messages: Sequence[Message], completion: str) -> TokenLogprobs:
        """Log-probability of each token of ``completion`` as the reply to ``messages``."""
        prompt = self._prompt_ids(list(messages))
        answer = self.tokenizer(completion, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([prompt + answer], device=self.device)  # (1, T)
        with torch.inference_mode():
            logits = self.model(input_ids=ids).logits.float()  # (1, T, V)
        # The logits at position t predict token t+1.
        logps = torch.log_softmax(logits[0, len(prompt) - 1 : -1], dim=-1)  # (n, V)
        picked = logps.gather(-1, torch.tensor(answer, device=self.device)[:, None])[:, 0]
        return TokenLogprobs(self.tokenizer.convert_ids_to_tokens(answer), picked.tolist())
