"""Model names: the embedded models, models the user registered, paths and URLs.

A model name is any of
  * a registered name (``pasar models list``): one of the embedded models (``embedded.CARDS``:
    installed by ``scripts/setup``, assembled and verified on first use), or added with
    ``pasar models add`` / registered by ``pasar align`` with its lineage, and kept in
    ``$PASAR_HOME/models.json``;
  * a GGUF file (run by llama.cpp unless another engine is asked for);
  * a Hugging Face model directory (run by transformers);
  * a vision model folder written by ``pasar vision train`` (engine ``vision``: served by
    ``pasar serve``, which reads image content parts; models/ does not import apps, so
    ``load_engine`` refuses it);
  * an ``http(s)://`` OpenAI-compatible base URL, optionally ``#remote-model-id``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pasar.config import Settings, get_settings
from pasar.errors import EngineUnavailableError, MissingWeightsError, UnknownModelError
from pasar.models.embedded import (
    CARDS,
    ModelCard,
    assembled_path,
    file_sha256,
    find_model_file,
    install_model,
    installable,
    missing_message,
)
from pasar.models.engine import Engine
from pasar.models.versions import weights_version

ENGINES = ("llamacpp", "hf", "http", "vision")
# The file `pasar vision train` writes into its --out folder (pasar.apps.vision.model.CONFIG_FILE,
# named again here because models/ must not import apps; a test pins the two together).
VISION_MODEL_FILE = "vision-config.json"


@dataclass(frozen=True)
class ModelSpec:
    """Where a model lives and which engine runs it by default."""

    name: str
    engine: str
    source: str  # a local path or a base URL; "" when the weights are missing
    description: str = ""
    remote_model: str | None = None  # model id to request from an http server
    api_key_env: str | None = None  # environment variable holding the http server's key
    builtin: bool = False
    # Where a trained model came from (`pasar align`/`pasar pretrain` register it): the base
    # model and its version, the data file's sha256, the method and its settings.
    lineage: dict[str, Any] | None = None
    scorecard: str | None = None  # a `pasar eval scorecard` report of this model
    version: str | None = None  # the weights' version when it was registered

    @property
    def card(self) -> ModelCard | None:
        """The model card of an embedded model."""
        return CARDS.get(self.name) if self.builtin else None

    @property
    def available(self) -> bool:
        if self.engine == "http" or (bool(self.source) and Path(self.source).exists()):
            return True
        return self.card is not None and installable(self.card)


def model_version(spec: ModelSpec, settings: Settings | None = None) -> str | None:
    """The version of a model's weights: a hash of their tensor data (see ``versions.py``).

    Two fine-tunes of one base get different versions; the same weights copied elsewhere or
    renamed keep theirs. An http model's version is the id the server serves; a model whose
    weights are not on disk (yet) has none.
    """
    if spec.engine == "http":
        return spec.remote_model
    if not Path(spec.source).exists():
        return None
    return weights_version(Path(spec.source), (settings or get_settings()).home)


def _registry_file(settings: Settings) -> Path:
    return settings.home / "models.json"


def _read_user_models(settings: Settings) -> dict[str, dict[str, Any]]:
    path = _registry_file(settings)
    if not path.exists():
        return {}
    try:
        data: dict[str, dict[str, Any]] = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise UnknownModelError(f"{path} is not valid JSON ({exc}); fix or delete it") from exc
    return data


def _write_user_models(settings: Settings, models: dict[str, dict[str, Any]]) -> None:
    """Write the registry atomically: a crash leaves the old file or the new one."""
    path = _registry_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(models, indent=2, sort_keys=True))
    os.replace(tmp, path)


def builtin_models(settings: Settings) -> list[ModelSpec]:
    """One spec per embedded model; ``source`` is where its GGUF is or will be assembled."""
    specs = []
    for card in CARDS.values():
        found = find_model_file(card, settings.home)
        specs.append(
            ModelSpec(
                name=card.name,
                engine="llamacpp",
                source=str(found or assembled_path(card, settings.home)),
                description=f"{card.model}, {card.params}, "
                f"{'instruct' if card.instruct else 'base'}. {card.notes}",
                builtin=True,
            )
        )
    return specs


def list_models(settings: Settings | None = None) -> list[ModelSpec]:
    settings = settings or get_settings()
    user = [ModelSpec(name=name, **fields) for name, fields in _read_user_models(settings).items()]
    return builtin_models(settings) + user


def add_model(spec: ModelSpec, settings: Settings | None = None) -> None:
    """Register (or replace) a user model name."""
    settings = settings or get_settings()
    if spec.engine not in ENGINES:
        raise ValueError(f"engine {spec.engine!r} is not one of {', '.join(ENGINES)}")
    if spec.engine == "vision" and not (Path(spec.source) / VISION_MODEL_FILE).is_file():
        raise ValueError(
            f"{spec.source} has no {VISION_MODEL_FILE}: the vision engine runs the --out folder "
            "of `pasar vision train`"
        )
    if spec.name in {m.name for m in builtin_models(settings)}:
        raise ValueError(f"{spec.name!r} is a built-in model name; choose another name")
    models = _read_user_models(settings)
    models[spec.name] = {k: v for k, v in asdict(spec).items() if k not in ("name", "builtin")}
    _write_user_models(settings, models)


def trained_lineage(
    *, base: str, data: Path, method: str, settings: dict[str, Any]
) -> dict[str, Any]:
    """Where a trained model came from: the start model and its version, the data file and
    its sha256, the method and every setting (`pasar align`/`pasar pretrain` record it)."""
    try:
        base_version = model_version(resolve_model(base))
    except UnknownModelError:  # a from-scratch config (llama-tiny, a JSON file): no weights
        base_version = None
    return {
        "base_model": base,
        "base_version": base_version,
        "data": str(data),
        "data_sha256": file_sha256(data) if data.is_file() else None,
        "method": method,
        "settings": json.loads(json.dumps(settings, default=str)),
    }


def register_trained(
    name: str, model_dir: Path, lineage: dict[str, Any], settings: Settings | None = None
) -> ModelSpec:
    """Register a model written by ``pasar align``/``pasar pretrain`` under ``name``, with its
    lineage and the version of its weights."""
    settings = settings or get_settings()
    spec = resolve_model(str(model_dir), settings)
    scorecard = model_dir / "scorecard.json"
    registered = ModelSpec(
        name=name,
        engine=spec.engine,
        source=spec.source,
        description=f"{lineage.get('method', 'trained')} from {lineage.get('base_model')}",
        lineage=lineage,
        scorecard=str(scorecard) if scorecard.exists() else None,
        version=model_version(spec, settings),
    )
    add_model(registered, settings)
    return registered


def remove_model(name: str, settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    models = _read_user_models(settings)
    if name not in models:
        raise UnknownModelError(f"{name!r} is not a user-registered model; see `pasar models list`")
    del models[name]
    _write_user_models(settings, models)


def resolve_model(name: str, settings: Settings | None = None) -> ModelSpec:
    """Turn a model name, path or URL into a ModelSpec, or explain what names are valid."""
    settings = settings or get_settings()
    for spec in list_models(settings):
        if spec.name == name:
            return spec
    if name.startswith(("http://", "https://")):
        url, _, remote = name.partition("#")
        return ModelSpec(name=name, engine="http", source=url, remote_model=remote or None)
    path = Path(name).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return ModelSpec(name=path.stem, engine="llamacpp", source=str(path.resolve()))
    if path.is_dir() and (path / VISION_MODEL_FILE).exists():
        return ModelSpec(name=path.name, engine="vision", source=str(path.resolve()))
    if path.is_dir() and (path / "config.json").exists():
        return ModelSpec(name=path.name, engine="hf", source=str(path.resolve()))
    known = ", ".join(m.name for m in list_models(settings))
    hint = ""
    if path.exists():
        hint = (
            f" {name} exists but is neither a .gguf file nor a directory with config.json "
            f"or {VISION_MODEL_FILE}."
        )
    raise UnknownModelError(
        f"unknown model {name!r}.{hint} Known names: {known}. A model can also be a .gguf file, "
        "a Hugging Face directory, a `pasar vision train` folder, or an http(s):// "
        "OpenAI-compatible base URL; "
        "register more with `pasar models add`."
    )


def ensure_weights(spec: ModelSpec, settings: Settings | None = None) -> ModelSpec:
    """``spec`` with its weights on disk: an embedded model is assembled and verified the first
    time (a progress bar on stderr); otherwise ``MissingWeightsError`` says what to do."""
    if spec.engine == "http" or Path(spec.source).exists():
        return spec
    card = spec.card
    if card is None:
        require_weights(spec)
        return spec
    if not installable(card):
        raise MissingWeightsError(missing_message(card))
    from tqdm import tqdm

    home = (settings or get_settings()).home
    with tqdm(
        total=2 * card.size_bytes, unit="B", unit_scale=True, desc=f"verifying {card.name}"
    ) as bar:
        path = install_model(card, home, bar.update)
    return ModelSpec(**{**asdict(spec), "source": str(path)})


def require_weights(spec: ModelSpec) -> None:
    """Raise ``MissingWeightsError``, saying what to do, when ``spec``'s weights are not here."""
    if spec.available:
        return
    if spec.card is not None:
        raise MissingWeightsError(missing_message(spec.card))
    raise MissingWeightsError(
        f"model {spec.name!r} points at {spec.source!r}, which does not exist; "
        f"fix it with `pasar models add {spec.name} PATH` or remove it"
    )


def load_engine(
    name: str | None = None,
    *,
    engine: str | None = None,
    settings: Settings | None = None,
    **options: Any,
) -> Engine:
    """Load a model by name with its default engine, or with ``engine`` if given.

    ``options`` go to the engine's constructor (e.g. ``n_ctx`` for llamacpp, ``device`` for hf).
    """
    settings = settings or get_settings()
    spec = resolve_model(name or settings.model, settings)
    kind = engine or settings.engine or spec.engine
    if kind not in ENGINES:
        raise ValueError(f"engine {kind!r} is not one of {', '.join(ENGINES)}")
    spec = ensure_weights(spec, settings)  # refuses missing weights, saying what to do
    if spec.engine == "vision":
        raise ValueError(
            f"model {spec.name!r} ({spec.source}) is a vision model, a `pasar vision train` "
            "folder: `pasar serve` serves it by name (images as data URLs in chat completions) "
            "and `pasar vision caption IMAGE --model FOLDER` runs it; load_engine runs text models"
        )
    if kind == "vision":
        raise ValueError(
            f"the vision engine runs `pasar vision train` folders, and {spec.name!r} is a "
            f"{spec.engine} model: leave out the engine to use its own"
        )
    if (kind == "http") != (spec.engine == "http"):
        raise ValueError(f"model {spec.name!r} ({spec.source}) cannot run on the {kind} engine")
    if kind == "llamacpp":
        if not spec.source.endswith(".gguf"):
            raise ValueError(f"the llamacpp engine needs a .gguf file; {spec.source} is not one")
        try:
            from pasar.models.llamacpp import LlamaCppEngine
        except ImportError as exc:
            raise EngineUnavailableError(
                f"llama-cpp-python is not installed ({exc}): pip install llama-cpp-python"
            ) from exc
        options.setdefault("n_ctx", settings.n_ctx)
        options.setdefault("n_threads", settings.threads or os.cpu_count())
        if spec.card is not None:
            options.setdefault("repeat_penalty", spec.card.repeat_penalty)
        return LlamaCppEngine(spec.name, spec.source, **options)
    if kind == "hf":
        try:
            from pasar.models.hf import HFEngine
        except ImportError as exc:
            raise EngineUnavailableError(
                f"transformers/torch are not installed ({exc}): install torch==2.13.0, "
                "then transformers"
            ) from exc
        options.setdefault("n_ctx", settings.n_ctx)
        return HFEngine(spec.name, spec.source, **options)
    from pasar.models.http import HTTPEngine

    api_key = (
        os.environ.get(spec.api_key_env) if spec.api_key_env else None
    ) or settings.http_api_key
    options.setdefault("timeout", settings.http_timeout)
    return HTTPEngine(
        spec.name, spec.source, remote_model=spec.remote_model, api_key=api_key, **options
    )
