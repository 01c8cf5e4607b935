"""Model names: the embedded default, models the user registered, paths and URLs.

A model name is any of
  * a registered name (``pasar models list``): built in, or added with ``pasar models add``
    and kept in ``$PASAR_HOME/models.json``;
  * a GGUF file (run by llama.cpp unless another engine is asked for);
  * a Hugging Face model directory (run by transformers);
  * a vision model folder written by ``pasar vision train`` (engine ``vision``: served by
    ``pasar serve``, which reads image content parts; models/ does not import apps, so
    ``load_engine`` refuses it);
  * an ``http(s)://`` OpenAI-compatible base URL, optionally ``#remote-model-id``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pasar.config import Settings, get_settings
from pasar.errors import EngineUnavailableError, MissingWeightsError, UnknownModelError
from pasar.models.embedded import (
    EMBEDDED_FILE,
    EMBEDDED_NAME,
    INSTALL_HINT,
    find_embedded_gguf,
)
from pasar.models.engine import Engine

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

    @property
    def available(self) -> bool:
        return self.engine == "http" or (bool(self.source) and Path(self.source).exists())


def model_version(spec: ModelSpec) -> str | None:
    """A short fingerprint of the weights (size and first MiB), so answers name what made them."""
    if spec.engine == "http":
        return spec.remote_model
    path = Path(spec.source)
    files = [path] if path.is_file() else sorted(p for p in path.glob("*") if p.is_file())
    digest = hashlib.sha256()
    for file in files:
        digest.update(f"{file.name}:{file.stat().st_size}".encode())
        with file.open("rb") as f:
            digest.update(f.read(1 << 20))
    return digest.hexdigest()[:12]


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
    gguf = find_embedded_gguf(settings.home)
    return [
        ModelSpec(
            name=EMBEDDED_NAME,
            engine="llamacpp",
            source=str(gguf) if gguf else "",
            description="SmolLM2-135M-Instruct, Q4_1 GGUF (98 MB), the embedded default. "
            "English-centric: it cannot translate into Indonesian, Thai or Vietnamese.",
            builtin=True,
        )
    ]


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


def require_weights(spec: ModelSpec) -> None:
    """Raise ``MissingWeightsError``, saying what to do, when ``spec``'s weights are not here."""
    if spec.available:
        return
    if spec.name == EMBEDDED_NAME:
        raise MissingWeightsError(
            f"the embedded model file {EMBEDDED_FILE} is missing: {INSTALL_HINT}"
        )
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
    require_weights(spec)
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
        options.setdefault("n_threads", settings.threads)
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
