#!/usr/bin/env bash
# The connector comparison of docs/vision.md, CPU only: stage 1 (the connector alone; backbone
# and LLM frozen) of the Ovis visual-token connector and of the LLaVA-style MLP baseline on the
# real product photos, with the embedded SmolLM2-135M and EfficientNet-Lite0, each evaluated on
# the held-out products. Both runs share the seed, batch, learning rate and split: only the
# connector differs. A step is skipped when its output exists and training resumes from its last
# checkpoint: after a kill, run the script again.
#   benchmarks/vision_experiment.sh [OUT] [STEPS]     (defaults: runs/vision-experiment, 25)
#   DATA=photos.jsonl benchmarks/vision_experiment.sh OUT STEPS   (other photos: folder or JSONL)
# Stages 2 and 3 (backbone, then the LLM with LoRA) are a GPU recipe: docs/vision.md.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
"$here/scripts/setup"
pasar="$here/.venv/bin/pasar"
py="$here/.venv/bin/python"
out="${1:-runs/vision-experiment}"
steps="${2:-25}"   # 30 s a step measured on 2 shared cores: ~15 min a connector, eval on top
data="${DATA:-$(dirname "$here")/shared/data/images}"

for connector in ovis mlp; do
  run="$out/$connector"
  [ -f "$run/train-report.json" ] || "$pasar" vision train --stage 1 --connector "$connector" \
    --data "$data" --out "$run" --max-steps "$steps" --save-every 5 --batch-size 8 --seed 0
  [ -f "$out/eval-$connector.json" ] || "$pasar" vision eval --model "$run" --data "$data" \
    --page "$out/page-$connector" --out "$out/eval-$connector.json"
done

"$py" "$here/benchmarks/vision_table.py" "$out" --json "$here/docs/results/vision.json" \
  --markdown "$here/docs/results/vision-table.md"
