"""The benchmark-size run of the money property test (docs/security.md): random sequences of
order actions on the real retail database never refund more than was paid.

    .venv/bin/python benchmarks/order_properties.py [--examples 10000]

Runs ``tests/test_order_actions_properties.py`` with ``PASAR_PROPERTY_EXAMPLES`` set and
hypothesis's statistics on, and writes benchmarks/results/order_properties.json: the number of
sequences, passed or failed, the seconds and library versions. CI runs 300 sequences.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from pasar.evaluate.scorecard import library_versions

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=10_000, help="sequences to generate")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks/results/order_properties.json"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--hypothesis-show-statistics",
            "--timeout=0",  # the suite's 600 s per test would cut a 10,000-sequence run
            "tests/test_order_actions_properties.py::test_order_actions_never_invent_money",
        ],
        cwd=ROOT,
        env={**os.environ, "PASAR_PROPERTY_EXAMPLES": str(args.examples)},
        capture_output=True,
        text=True,
    )
    passing = re.findall(r"(\d+) passing, (\d+) failing", done.stdout)
    report = {
        "test": "tests/test_order_actions_properties.py::test_order_actions_never_invent_money",
        "examples_asked": args.examples,
        "passing_examples": sum(int(p) for p, _ in passing) if passing else None,
        "failing_examples": sum(int(f) for _, f in passing) if passing else None,
        "passed": done.returncode == 0,
        "seconds": round(time.perf_counter() - started, 1),
        "libraries": library_versions(),
        "output_tail": done.stdout[-1500:],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "output_tail"}, indent=2))
    sys.exit(done.returncode)


if __name__ == "__main__":
    main()
