"""The ``vision`` engine type, registered through the ``pasar.engines`` entry point
(pyproject.toml): a ``pasar vision train`` folder (it holds ``CONFIG_FILE``) is a model that
``load_engine`` runs on ``serving.VisionEngine``, which reads image content parts. Light to
import (no torch): the engine loads on first use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pasar.errors import EngineUnavailableError
from pasar.models.engine import Engine
from pasar.models.registry import LoadContext, ModelSpec, register_engine_type

KIND = "vision"
CONFIG_FILE = "vision-config.json"  # what `pasar vision train` writes into its --out folder


def is_vision_folder(path: Path) -> bool:
    return path.is_dir() and (path / CONFIG_FILE).is_file()


def load_vision(spec: ModelSpec, context: LoadContext, **options: Any) -> Engine:
    try:
        from pasar.apps.vision.serving import VisionEngine
    except ImportError as exc:
        raise EngineUnavailableError(
            f"the vision engine needs torch and transformers ({exc}): install torch==2.13.0, "
            "then transformers"
        ) from exc
    options.setdefault("n_ctx", context.settings.n_ctx)
    return VisionEngine(spec.name, spec.source, **options)


def register() -> None:
    register_engine_type(
        KIND,
        load_vision,
        exclusive=True,
        detect=is_vision_folder,
        source_help=f"a `pasar vision train` folder (with {CONFIG_FILE})",
        reads_images=True,
    )
