"""Model versions: a hash of the tensor data, so a version names the weights and nothing else.

    weights_version(Path("runs/bnf"), home)          # "w-3f2a9c0d41b7e655"

What is hashed:
  * a GGUF file: every byte after the header and metadata (``GGUFReader.data_offset``), i.e. the
    tensors. Renaming the model or editing its chat template keeps the version.
  * a Hugging Face directory: each ``*.safetensors`` file's tensor table (names, dtypes, shapes,
    without the free-form ``__metadata__``) and tensor bytes; other weight files
    (``*.bin``, ``*.pt``, ``*.gguf``) whole. A LoRA adapter directory hashes its adapter.

Hashing a gigabyte takes about a second, so results are cached in ``$PASAR_HOME/versions.json``
by path, size and mtime: a file that changes is hashed again.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")
BLOCK = 1 << 22


def _hash_range(digest: hashlib._Hash, path: Path, start: int) -> None:
    with path.open("rb") as f:
        f.seek(start)
        while block := f.read(BLOCK):
            digest.update(block)


def _hash_gguf(digest: hashlib._Hash, path: Path) -> None:
    from gguf import GGUFReader

    reader = GGUFReader(path)
    # The tensor table (names, shapes, types) and the data they point into.
    for tensor in reader.tensors:
        digest.update(f"{tensor.name}:{list(tensor.shape)}:{tensor.tensor_type}".encode())
    offset = reader.data_offset
    del reader  # release the memory map before reading the file again
    _hash_range(digest, path, offset)


def _hash_safetensors(digest: hashlib._Hash, path: Path) -> None:
    with path.open("rb") as f:
        (header_len,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(header_len))
    header.pop("__metadata__", None)
    digest.update(json.dumps(header, sort_keys=True).encode())
    _hash_range(digest, path, 8 + header_len)


def weight_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES)


def hash_weights(path: Path) -> str:
    """The version of the weights at ``path`` (a file or a directory), uncached."""
    files = weight_files(path)
    if not files:
        raise ValueError(
            f"{path} holds no weights ({', '.join(WEIGHT_SUFFIXES)} files); give a model "
            "file or a directory written by save_pretrained"
        )
    digest = hashlib.sha256()
    for file in files:
        if file.suffix == ".gguf":
            _hash_gguf(digest, file)
        elif file.suffix == ".safetensors":
            _hash_safetensors(digest, file)
        else:
            _hash_range(digest, file, 0)
    return "w-" + digest.hexdigest()[:16]


def _cache_key(path: Path) -> str:
    stats = [(f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in weight_files(path)]
    return json.dumps([str(path.resolve()), stats])


def weights_version(path: Path, home: Path) -> str:
    """``hash_weights(path)``, cached in ``home/versions.json`` by path, sizes and mtimes."""
    cache_file = home / "versions.json"
    try:
        cache: dict[str, str] = json.loads(cache_file.read_text())
    except (OSError, json.JSONDecodeError):
        cache = {}
    key = _cache_key(path)
    if key not in cache:
        cache[key] = hash_weights(path)
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache, indent=1))
        os.replace(tmp, cache_file)
    return cache[key]
