#!/usr/bin/env bash
# The scorecard of every embedded model (docs/models.md), CPU only, on llama.cpp. Each model's
# card resumes section by section (and Taskbot episode by episode) after a kill: run it again.
#   benchmarks/scorecard_experiment.sh [MODEL ...]   (default: all four, fastest first)
# Writes docs/results/scorecard-MODEL.json, then the table docs/results/scorecard-table.md.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
scripts/setup
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(smollm2-135m-instruct gemma-3-270m qwen2.5-coder-0.5b-instruct
                                   qwen2.5-coder-1.5b-instruct)
for model in "${models[@]}"; do
  .venv/bin/pasar eval scorecard --model "$model" --out "docs/results/scorecard-$model.json"
done
.venv/bin/python benchmarks/scorecard_table.py docs/results/scorecard-*.json \
  --markdown docs/results/scorecard-table.md
