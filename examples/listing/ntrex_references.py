"""Write NTREX's English sentences and their human translations as a JSONL catalog, to measure
how often the quality gates reject a good (human) translation:

    PYTHONPATH=src python examples/listing/ntrex_references.py --limit 300 --out ntrex.jsonl
    PYTHONPATH=src python -m pasar.cli.main listing check ntrex.jsonl --out refs-check.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pasar.data.files import write_jsonl
from pasar.evaluate.translation import DEFAULT_NTREX, load_ntrex

TARGETS = ("id", "ms", "th", "vi", "tl")

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=300)
    parser.add_argument("--ntrex", type=Path, default=DEFAULT_NTREX)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    english = load_ntrex(args.ntrex, "en", args.limit)
    columns = {lang: load_ntrex(args.ntrex, lang, args.limit) for lang in TARGETS}
    rows = [
        {"id": f"ntrex-{i}", "description": text}
        | {f"description_{lang}": columns[lang][i] for lang in TARGETS}
        for i, text in enumerate(english)
    ]
    print(f"{write_jsonl(rows, args.out)} sentences -> {args.out}")
