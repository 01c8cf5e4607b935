"""Model names: the embedded models, models the user registered, paths and URLs.

A model name is any of
  * a registered name (``pasar models list``): one of the embedded models (``embedded.CARDS``:
    installed by ``scripts/setup``, assembled and verified on first use), or added with
    ``pasar models add`` / registered by ``pasar align`` with its lineage, and kept in
    ``$PASAR_HOME/models.json``;
  * a GGUF file (run by llama.cpp unless another engine is asked for);
  * a Hugging Face model directory (run by transformers);
  * a folder an app's engine type recognises (``detect``): a ``pasar vision train`` folder;
  * an ``http(s)://`` OpenAI-compatible base URL, optionally ``#remote-model-id``; several,
    comma-separated, for replicas of one model (the http engine uses them in turn);
  * a name an app's engine type provides (``taskbot``, ``taskbot-flows``).

``load_engine`` is the one way from a name to an engine. Engine types are registered in
``ENGINE_TYPES``: the built-in ``llamacpp``, ``hf`` and ``http`` here, the apps' through the
``pasar.engines`` entry points (pyproject.toml), loaded on first use, as the ``llm`` CLI loads
its plugins: each entry point is a function that calls ``register_engine_type``. models/ does
not import apps; only the entry points connect them.
"""

from __future__ import annotations

import json
import os
import threading
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol

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

ENTRY_POINT_GROUP = "pasar.engines"


@dataclass(frozen=True)
class ModelSpec:
    """Where a model lives and which engine runs it by default."""

    name: str
    engine: str
    # a local path or a base URL (several, comma-separated: replicas of one model); "" when
    # the weights are missing; for an engine type without weights (taskbot), what its loader
    # reads it as (the agent)
    source: str
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
        """Can it be loaded here: its engine type is installed and its weights are here (or
        installable, or it has none)."""
        engine_type = engine_types().get(self.engine)
        if engine_type is None:
            return False
        if not engine_type.weights or (bool(self.source) and Path(self.source).exists()):
            return True
        return self.card is not None and installable(self.card)


@dataclass(frozen=True)
class LoadContext:
    """What a loader gets besides the spec and the engine's options."""

    settings: Settings
    # The store an app's engine works on (Taskbot changes commerce data in it): the server's;
    # None: the loader opens the configured one. Typed loosely: models/ does not import store/.
    store: Any = None
    # How a loader gets another model by name (Taskbot's LLM): the server passes its pool, so
    # the model is loaded once; None: load_engine.
    models: Callable[[str], Engine] | None = None

    def model(self, name: str) -> Engine:
        if self.models is not None:
            return self.models(name)
        return load_engine(name, settings=self.settings)


class Loader(Protocol):
    def __call__(self, spec: ModelSpec, context: LoadContext, **options: Any) -> Engine: ...


@dataclass(frozen=True)
class EngineType:
    """One way of running models: its loader, and what the registry must know of its models."""

    kind: str
    load: Loader  # load(spec, context, **options) -> Engine; options: the engine's own
    runs: frozenset[str] = frozenset()  # other engines' models it runs too (hf runs GGUFs)
    weights: bool = True  # its models are weights on disk, at spec.source
    # Only this engine runs its models: PASAR_ENGINE does not apply to them (apps' engines).
    exclusive: bool = False
    detect: Callable[[Path], bool] | None = None  # is this folder one of its models
    source_help: str = ""  # what ``detect`` recognises, for messages ("a ... folder")
    models: Callable[[Settings], list[ModelSpec]] | None = None  # the names it provides
    reads_images: bool = False  # its engines read image content parts
    builtin: bool = False  # registered here, not by an app


ENGINE_TYPES: dict[str, EngineType] = {}
_discovered = False
_discover_lock = threading.RLock()


def register_engine_type(kind: str, load: Loader, **about: Any) -> EngineType:
    """Make ``kind`` an engine that ``load_engine`` runs models on; ``about`` fills the other
    ``EngineType`` fields. Apps call it from their ``pasar.engines`` entry point."""
    engine_type = EngineType(kind, load, **about)
    ENGINE_TYPES[kind] = engine_type
    return engine_type


def discover_engine_types(*, again: bool = False) -> None:
    """Run every ``pasar.engines`` entry point once (``again``: the ones installed since too).
    A plugin that fails to load is skipped with a warning: the other models still work."""
    global _discovered
    with _discover_lock:
        if _discovered and not again:
            return
        _discovered = True
        seen = set()
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            if (entry.name, entry.value) in seen:  # a package found twice on sys.path
                continue
            seen.add((entry.name, entry.value))
            try:
                entry.load()()
            except Exception as exc:  # noqa: BLE001 - a broken plugin must not break pasar
                warnings.warn(
                    f"engine plugin {entry.name} ({entry.value}) failed to load: {exc}",
                    stacklevel=2,
                )


def engine_types() -> dict[str, EngineType]:
    """The engine types by kind: the built-in ones and the apps' (entry points, loaded once)."""
    discover_engine_types()
    return ENGINE_TYPES


def model_version(spec: ModelSpec, settings: Settings | None = None) -> str | None:
    """The version of a model's weights: a hash of their tensor data (see ``versions.py``).

    Two fine-tunes of one base get different versions; the same weights copied elsewhere or
    renamed keep theirs. An http model's version is the id the server serves; a model whose
    weights are not on disk (yet), or that has none, has none. A loaded engine carries its
    version (``Engine.version``): ask it rather than hashing again.
    """
    if spec.engine == "http":
        return spec.remote_model
    engine_type = engine_types().get(spec.engine)
    if engine_type is not None and not engine_type.weights:
        return None
    if not spec.source or not Path(spec.source).exists():
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


def provided_models(settings: Settings) -> list[ModelSpec]:
    """The names engine types provide (``taskbot``, ``taskbot-flows``)."""
    return [m for t in engine_types().values() if t.models is not None for m in t.models(settings)]


def list_models(settings: Settings | None = None) -> list[ModelSpec]:
    settings = settings or get_settings()
    user = [ModelSpec(name=name, **fields) for name, fields in _read_user_models(settings).items()]
    return builtin_models(settings) + provided_models(settings) + user


def add_model(spec: ModelSpec, settings: Settings | None = None) -> None:
    """Register (or replace) a user model name."""
    settings = settings or get_settings()
    types = engine_types()
    if spec.engine not in types:
        raise ValueError(f"engine {spec.engine!r} is not one of {', '.join(types)}")
    engine_type = types[spec.engine]
    if engine_type.detect is not None and not engine_type.detect(Path(spec.source)):
        raise ValueError(
            f"{spec.source} is not {engine_type.source_help}: the {spec.engine} engine runs those"
        )
    taken = builtin_models(settings) + provided_models(settings)
    if spec.name in {m.name for m in taken}:
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
        urls, remote = http_replicas(name)
        return ModelSpec(name=name, engine="http", source=",".join(urls), remote_model=remote)
    path = Path(name).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return ModelSpec(name=path.stem, engine="llamacpp", source=str(path.resolve()))
    detecting = [t for t in engine_types().values() if t.detect is not None]
    for engine_type in detecting:  # an app's folder may hold a config.json too: apps first
        if engine_type.detect is not None and engine_type.detect(path):
            return ModelSpec(name=path.name, engine=engine_type.kind, source=str(path.resolve()))
    if path.is_dir() and (path / "config.json").exists():
        return ModelSpec(name=path.name, engine="hf", source=str(path.resolve()))
    known = ", ".join(m.name for m in list_models(settings))
    others = "".join(f"{t.source_help}, " for t in detecting)
    hint = ""
    if path.exists():
        hint = (
            f" {name} exists but is neither a .gguf file nor a directory with config.json"
            + "".join(f" nor {t.source_help}" for t in detecting)
            + "."
        )
    raise UnknownModelError(
        f"unknown model {name!r}.{hint} Known names: {known}. A model can also be a .gguf file, "
        f"a Hugging Face directory, {others}or an http(s):// OpenAI-compatible base URL; "
        "register more with `pasar models add`."
    )


def family_card(spec: ModelSpec, settings: Settings | None = None) -> ModelCard | None:
    """The card of the embedded model ``spec`` is, or was trained from (its lineage's base,
    followed back): a fine-tune keeps its base's defaults (tool protocol, repetition penalty),
    so a trained version is run and compared under the same settings as its start."""
    seen: set[str] = set()
    while spec.card is None and spec.lineage and spec.name not in seen:
        seen.add(spec.name)
        try:
            spec = resolve_model(str(spec.lineage.get("base_model")), settings)
        except UnknownModelError:
            return None
    return spec.card


def http_replicas(name: str) -> tuple[list[str], str | None]:
    """The base URLs and the model id in ``URL[#id]`` or ``URL,URL,...[#id]`` (replicas of one
    model: each URL may carry the ``#id``, which must then be the same)."""
    urls, remotes = [], set()
    for part in name.split(","):
        url, _, remote = part.strip().partition("#")
        if not url.startswith(("http://", "https://")):
            raise UnknownModelError(
                f"{name!r}: {url!r} is not an http(s):// base URL; the replicas of one model "
                "are its servers' base URLs, comma-separated (http://host1:8000/v1,"
                "http://host2:8000/v1)"
            )
        urls.append(url)
        remotes |= {remote} if remote else set()
    if len(remotes) > 1:
        raise UnknownModelError(
            f"{name!r}: the replicas name different models ({', '.join(sorted(remotes))}); "
            "they must serve one model: give one #model-id"
        )
    return urls, next(iter(remotes), None)


def ensure_weights(spec: ModelSpec, settings: Settings | None = None) -> ModelSpec:
    """``spec`` with its weights on disk: an embedded model is assembled and verified the first
    time (a progress bar on stderr); otherwise ``MissingWeightsError`` says what to do."""
    engine_type = engine_types().get(spec.engine)
    if (engine_type is not None and not engine_type.weights) or Path(spec.source).exists():
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


def chat_template(spec: ModelSpec) -> str | None:
    """The chat template a model's weights carry (a GGUF's metadata, a Hugging Face folder's
    tokenizer files), without loading the model; None when it has none or is not local."""
    source = Path(spec.source)
    if source.is_file() and source.suffix == ".gguf":
        from gguf import GGUFReader

        field = GGUFReader(source).fields.get("tokenizer.chat_template")
        return None if field is None else bytes(field.parts[field.data[0]]).decode("utf-8")
    if (source / "chat_template.jinja").is_file():
        return (source / "chat_template.jinja").read_text(encoding="utf-8")
    if (source / "tokenizer_config.json").is_file():
        template = json.loads((source / "tokenizer_config.json").read_text()).get("chat_template")
        return template if isinstance(template, str) else None
    return None


def load_engine(
    name: str | ModelSpec | None = None,
    *,
    engine: str | None = None,
    settings: Settings | None = None,
    store: Any = None,
    models: Callable[[str], Engine] | None = None,
    **options: Any,
) -> Engine:
    """Load a model (a name, path or URL, or a resolved ``ModelSpec``; default: the configured
    model) on its own engine, or on ``engine`` if given (PASAR_ENGINE too, except for models
    only their own engine runs). The only way from a name to an engine.

    ``options`` go to the engine (e.g. ``n_ctx`` for llamacpp, ``device`` for hf);
    ``store`` and ``models`` to loaders that need them (see ``LoadContext``). The engine
    carries its ``spec`` and its ``version`` (``model_version``, computed when first asked).
    """
    settings = settings or get_settings()
    spec = name if isinstance(name, ModelSpec) else resolve_model(name or settings.model, settings)
    types = engine_types()
    own = types.get(spec.engine)
    kind = engine or (None if own is not None and own.exclusive else settings.engine) or spec.engine
    if kind not in types:
        raise ValueError(f"engine {kind!r} is not one of {', '.join(types)}")
    engine_type = types[kind]
    if kind != spec.engine and spec.engine not in engine_type.runs:
        raise ValueError(
            f"model {spec.name!r} ({spec.source}) cannot run on the {kind} engine"
            + ("" if own is None else f": leave out the engine to use its own, {spec.engine}")
        )
    spec = ensure_weights(spec, settings)  # refuses missing weights, saying what to do
    loaded = engine_type.load(spec, LoadContext(settings, store, models), **options)
    loaded.spec = spec
    loaded.set_version(lambda: model_version(spec, settings))
    return loaded


def _load_llamacpp(spec: ModelSpec, context: LoadContext, **options: Any) -> Engine:
    if not spec.source.endswith(".gguf"):
        raise ValueError(f"the llamacpp engine needs a .gguf file; {spec.source} is not one")
    try:
        from pasar.models.llamacpp import LlamaCppEngine
    except ImportError as exc:
        raise EngineUnavailableError(
            f"llama-cpp-python is not installed ({exc}): pip install llama-cpp-python"
        ) from exc
    options.setdefault("n_ctx", context.settings.n_ctx)
    options.setdefault("n_threads", context.settings.threads or os.cpu_count())
    options.setdefault("parallel", context.settings.parallel)
    options.setdefault("queue_limit", context.settings.queue_limit)
    card = family_card(spec, context.settings)
    tool_format: str = context.settings.tool_format
    if tool_format == "auto":
        tool_format = card.tool_format if card is not None else "json"
    options.setdefault("tool_format", tool_format)
    if card is not None:
        options.setdefault("repeat_penalty", card.repeat_penalty)
    return LlamaCppEngine(spec.name, spec.source, **options)


def _load_hf(spec: ModelSpec, context: LoadContext, **options: Any) -> Engine:
    try:
        from pasar.models.hf import HFEngine
    except ImportError as exc:
        raise EngineUnavailableError(
            f"transformers/torch are not installed ({exc}): install torch==2.13.0, "
            "then transformers"
        ) from exc
    options.setdefault("n_ctx", context.settings.n_ctx)
    return HFEngine(spec.name, spec.source, **options)


def _load_http(spec: ModelSpec, context: LoadContext, **options: Any) -> Engine:
    from pasar.models.http import HTTPEngine

    settings = context.settings
    api_key = (
        os.environ.get(spec.api_key_env) if spec.api_key_env else None
    ) or settings.http_api_key
    options.setdefault("timeout", settings.http_timeout)
    return HTTPEngine(
        spec.name, spec.source, remote_model=spec.remote_model, api_key=api_key, **options
    )


register_engine_type("llamacpp", _load_llamacpp, runs=frozenset({"hf"}), builtin=True)
register_engine_type("hf", _load_hf, runs=frozenset({"llamacpp"}), builtin=True)
register_engine_type("http", _load_http, weights=False, builtin=True)
