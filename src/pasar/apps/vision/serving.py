"""A trained vision model (the --out folder of ``pasar vision train``) behind the engine
contract, so that ``pasar serve`` answers OpenAI chat completions with images in them:

    pasar models add shop-vision runs/vision-s1      # detected by its vision-config.json
    {"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}},
        {"type": "text", "text": "Describe this product."}]}

Each image part becomes the model's ``<image>`` placeholder, on a line of its own where the part
stands among the text parts: image then text gives ``<image>\\nDescribe this product.``, the
layout the model was trained on. The placeholder expands to ``<img>`` + P visual positions +
``</img>`` (so ``usage.prompt_tokens`` counts the visual positions) and the connector's output
replaces their embeddings, as in ``VisionLanguageModel.generate``. Images come only as
``data:image/...;base64,`` URLs, read by ``images.load_image`` (size limit, clear errors): a
server that fetched URLs given by clients could be made to reach anything on its network.

Generation, sampling, stop strings and JSON schemas are the transformers engine's, run on the
vision model's LLM with the image embeddings as input. A stream is sent as one chunk.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from pasar.apps.vision.model import (
    IMAGE_END,
    IMAGE_START,
    IMAGE_TOKEN,
    expand_image_placeholders,
    load_vision_model,
)
from pasar.errors import ContextLengthError
from pasar.models.engine import Engine, SamplingParams, image_parts, message_text
from pasar.models.hf import HFEngine
from pasar.models.images import MAX_PIXELS, ImageInputError, load_image
from pasar.models.types import ChatChunk, ChatResult, Message, Usage

RESERVED = (IMAGE_TOKEN, IMAGE_START, IMAGE_END)


def image_part_url(part: dict[str, Any], where: str) -> str:
    """The data URL of an image content part; an error that says what to send otherwise."""
    image_url = part.get("image_url")
    url = image_url.get("url") if isinstance(image_url, dict) else None
    if not isinstance(url, str) or not url:
        raise ImageInputError(
            f"{where} must be {{'type': 'image_url', 'image_url': {{'url': "
            "'data:image/png;base64,...'}}: the image, base64-encoded in a data URL"
        )
    if url.startswith(("http://", "https://")):
        raise ImageInputError(
            f"{where} gives the image as a URL ({url[:60]}); this server does not fetch URLs: "
            "send the image itself as a base64 data URL, data:image/png;base64,<data> "
            "(or image/jpeg, image/webp, image/gif)"
        )
    if not url.startswith("data:"):
        raise ImageInputError(
            f"{where} has the url {url[:40]!r}: send the image as a base64 data URL, "
            "data:image/png;base64,<data>"
        )
    return url


class VisionEngine(HFEngine):
    """A ``pasar vision train`` folder as an engine that reads image content parts."""

    kind = "vision"
    reads_images = True

    def __init__(
        self,
        name: str,
        folder: str | Path,
        *,
        n_ctx: int = 2048,
        device: str | None = None,
        max_pixels: int = MAX_PIXELS,
    ):
        self.vision = load_vision_model(folder).eval()
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.vision.to(device)
        super().__init__(
            name,
            str(folder),
            n_ctx=n_ctx,
            device=device,
            model=self.vision.llm,
            tokenizer=self.vision.tokenizer,
        )
        self.max_pixels = max_pixels

    def prompt(self, messages: list[Message]) -> tuple[list[int], list[Image.Image]]:
        """The prompt's token ids, each image expanded to its visual positions, and the images
        in the order of their positions."""
        for i, message in enumerate(messages):
            content = message.get("content")
            parts = content if isinstance(content, list) else [{"text": content}]
            for j, part in enumerate(parts):
                text = part.get("text") if isinstance(part, dict) else None
                if isinstance(text, str) and any(token in text for token in RESERVED):
                    raise ValueError(
                        f"messages[{i}].content[{j}] contains {' or '.join(RESERVED)}, which "
                        "this model reserves for images: send images as image_url content parts"
                    )
        images: list[Image.Image] = []
        for i, j, part in image_parts(messages):
            where = f"messages[{i}].content[{j}]"
            url = image_part_url(part, where)
            try:
                images.append(load_image(url, max_pixels=self.max_pixels))
            except ImageInputError as exc:
                raise ImageInputError(f"{where}: {exc}") from exc
        chat = [
            {**m, "content": message_text(m.get("content"), lambda _: IMAGE_TOKEN)}
            for m in messages
        ]
        text = self.tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
        ids = expand_image_placeholders(
            self.tokenizer(text, add_special_tokens=False)["input_ids"],
            image_id=self.vision.image_id,
            start_id=self.vision.start_id,
            end_id=self.vision.end_id,
            num_patches=self.vision.num_patches,
        )
        if len(ids) >= self.n_ctx:
            raise ContextLengthError(
                f"the prompt has {len(ids)} tokens ({len(images)} image(s) of "
                f"{self.vision.num_patches + 2} each) and does not fit the context window of "
                f"{self.n_ctx}: send fewer images or a shorter conversation, or raise PASAR_N_CTX"
            )
        return ids, images

    def _complete(
        self,
        messages: list[Message],
        params: SamplingParams,
        json_schema: dict[str, Any] | None,
        tools: list[dict[str, Any]] | None,
    ) -> ChatResult:
        ids, images = self.prompt(messages)
        input_ids = torch.tensor([ids], device=self.device)  # (1, T)
        with self._lock, torch.inference_mode():
            if images:
                pixels = self.vision.pixels(images).to(self.device)  # (N, 3, S, S)
                embeds = self.vision.embed_inputs(input_ids, pixels)  # (1, T, hidden)
            else:
                embeds = self.model.get_input_embeddings()(input_ids)  # (1, T, hidden)
            out = self.model.generate(
                input_ids=input_ids,
                inputs_embeds=embeds,
                attention_mask=torch.ones_like(input_ids),
                suppress_tokens=[self.vision.image_id, self.vision.start_id, self.vision.end_id],
                **self._generate_kwargs(len(ids), params, json_schema),
            )
        text, reason, n = self._finish(out[0, len(ids) :].tolist(), params)
        return ChatResult(text, reason, Usage(len(ids), n), self.name)

    # one conversation at a time (each has its own images), not HFEngine's padded batch
    _complete_batch = Engine._complete_batch

    def _stream(
        self, messages: list[Message], params: SamplingParams, json_schema: dict[str, Any] | None
    ) -> Iterator[ChatChunk]:
        result = self._complete(messages, params, json_schema, None)
        yield ChatChunk(result.text, result.finish_reason, result.usage)
