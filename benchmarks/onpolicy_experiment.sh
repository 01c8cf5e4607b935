#!/usr/bin/env bash
# The on-policy experiment of docs/results/onpolicy.md, on the embedded SmolLM2-135M-Instruct,
# CPU only. Every step is resumable: after a kill, run the script again.
#   benchmarks/onpolicy_experiment.sh [OUT]      (OUT defaults to runs/onpolicy-experiment)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
"$here/scripts/setup"
pasar="$here/.venv/bin/pasar"
py="$here/.venv/bin/python"
out="${1:-runs/onpolicy-experiment}"
start=smollm2-135m-instruct
prompts="$out/prompts.jsonl"
lr=2e-5

[ -f "$prompts" ] || "$pasar" eval prompts --out "$prompts" --per-language 16 --seed 0

# Round 1 is off-policy BNF (samples of the start model); round 2 samples the model round 1 trained.
"$pasar" align onpolicy --model "$start" --prompts "$prompts" --output "$out/onpolicy" \
  --rounds 2 --samples 4 --max-tokens 64 --learning-rate "$lr"

# TRL's DPO (the pairs) and KTO (the same rows as BNF) on round 1's data: same epochs, batch, lr.
steps() { "$py" -c "import math,sys; print(math.ceil(len(open(sys.argv[1]).readlines()) * 2 / 8))" "$1"; }
for method in dpo kto; do
  data="$out/onpolicy/round-1/$([ "$method" = dpo ] && echo pairs || echo data).jsonl"
  [ -f "$out/$method/report.json" ] || "$pasar" align "$method" --model "$start" --data "$data" \
    --output "$out/$method" --max-steps "$(steps "$data")" --batch-size 8 --learning-rate "$lr" \
    --resume
  [ -f "$out/$method-eval.json" ] || "$pasar" eval winrate --model "$out/$method" \
    --baseline "$start" --prompts "$prompts" --judge verifier --engine hf --max-tokens 96 \
    --batch-size 32 --out "$out/$method-eval.json"
done

"$py" "$here/benchmarks/onpolicy_table.py" "$out" --json "$here/docs/results/onpolicy.json" \
  --markdown "$here/docs/results/onpolicy-table.md"
