#!/usr/bin/env bash
# The pretraining experiment of docs/pretrain.md, at the scale of a 2-core CPU: the data, the
# regional tokenizer, SmolLM2 extended with 8,000 regional tokens and continued on the mix, a
# Llama trained from scratch with the regional tokenizer, and bits per byte of each. Every step
# resumes or is skipped when its output exists: after a kill, run the script again.
#   benchmarks/pretrain_experiment.sh [OUT] [CONTINUED_STEPS] [SCRATCH_STEPS]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
"$here/scripts/setup"
pasar="$here/.venv/bin/pasar"
out="${1:-runs/pretrain}"
continued_steps="${2:-100}"
scratch_steps="${3:-300}"

[ -f "$out/data/report.json" ] || "$pasar" pretrain data --out "$out/data"
[ -f "$out/tokenizer-32k/report.json" ] || "$pasar" pretrain tokenizer --data "$out/data" \
  --out "$out/tokenizer-32k"
[ -f "$out/smollm2-sea-ext/extend-report.json" ] || "$pasar" pretrain extend-vocab \
  --tokenizer "$out/tokenizer-32k" --new-tokens 8000 --data "$out/data" --out "$out/smollm2-sea-ext"
[ -f "$out/shards-ext/heldout/manifest.json" ] || "$pasar" pretrain shards --data "$out/data" \
  --tokenizer "$out/smollm2-sea-ext" --out "$out/shards-ext"
[ -f "$out/shards-32k/heldout/manifest.json" ] || "$pasar" pretrain shards --data "$out/data" \
  --tokenizer "$out/tokenizer-32k" --out "$out/shards-32k"

# Continued pretraining of the extended model: every weight, 2,048 tokens a step.
[ -f "$out/continued/train-report.json" ] || "$pasar" pretrain train \
  --model "$out/smollm2-sea-ext" --shards "$out/shards-ext" --out "$out/continued" \
  --seq-len 256 --batch-size 8 --max-steps "$continued_steps" --learning-rate 2e-4 \
  --warmup-steps 5 --save-every 10 --eval-every 20 --eval-windows 2
# From scratch: llama-tiny (13M parameters with the 32k tokenizer), 4,096 tokens a step.
[ -f "$out/scratch/train-report.json" ] || "$pasar" pretrain train --model llama-tiny \
  --tokenizer "$out/tokenizer-32k" --shards "$out/shards-32k" --out "$out/scratch" \
  --seq-len 512 --batch-size 8 --max-steps "$scratch_steps" --learning-rate 1e-3 \
  --warmup-steps 20 --save-every 50 --eval-every 50 --eval-windows 4

for model in smollm2-135m-instruct "$out/smollm2-sea-ext" "$out/continued" "$out/scratch"; do
  name=$(basename "$model")
  [ -f "$out/bpb-$name.json" ] || "$pasar" pretrain eval --model "$model" --data "$out/data" \
    --out "$out/bpb-$name.json"
done
