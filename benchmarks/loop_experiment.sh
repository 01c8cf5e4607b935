#!/usr/bin/env bash
# The whole loop through the product (issue 23): simulated users of `pasar serve` rate the
# served student by the verifiers and correct it with the strong baseline's answers; the
# feedback is exported, the student aligned, the new version registered, served and measured
# against the baseline on held-out prompts. Every step is skipped when its output exists, so
# after a kill run the script again.
#
#   benchmarks/loop_experiment.sh [OUT]        (OUT defaults to runs/loop-experiment)
#
# Sizes come from the environment (defaults: the issue's experiment; a smoke run sets them
# small): STUDENT, BASELINE, PER_LANGUAGE (prompts per task and language; 60 gives 308
# held-out), USERS (simulated users per round, in turn from each task and language), ROUNDS
# (BNF rounds, the first off-policy), STEPS (optimizer steps per training run), BATCH, LR,
# MAX_TOKENS, PORT, JUDGE (the LLM judge reported beside the verifiers on the start and the
# last round; default: the baseline, the strongest model here, which may favour its own answers).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
"$here/scripts/setup"
pasar="$here/.venv/bin/pasar"
py="$here/.venv/bin/python"
out="$(realpath -m "${1:-runs/loop-experiment}")"
student="${STUDENT:-qwen2.5-coder-0.5b-instruct}"
baseline="${BASELINE:-qwen2.5-coder-1.5b-instruct}"
per_language="${PER_LANGUAGE:-60}"
users="${USERS:-240}"
rounds="${ROUNDS:-3}"
steps="${STEPS:-60}"
batch="${BATCH:-4}"
lr="${LR:-2e-5}"
max_tokens="${MAX_TOKENS:-128}"
port="${PORT:-8765}"
judge="${JUDGE:-$baseline}"
tag="$(basename "$out")"
mkdir -p "$out"
export PASAR_HOME="${PASAR_HOME:-$HOME/.pasar}"
export PASAR_STORE_URL="sqlite:///$out/store.db"  # this experiment's own interaction log
prompts="$out/prompts.jsonl"

[ -f "$prompts" ] || "$pasar" eval prompts --out "$prompts" --per-language "$per_language" \
  --seed 0 --task title --task order --task product --task translation

"$pasar" serve --port "$port" >"$out/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 120); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 1; done

measure() {  # name model: win rate against the baseline on the held-out prompts (the
  # baseline's answers are generated once, for the start row, and reused by every other row)
  local reuse=()
  [ "$1" = start ] || reuse=(--baseline-from "$out/start/winrate.json")
  [ -f "$out/$1/winrate.json" ] || "$pasar" eval winrate --model "$2" --baseline "$baseline" \
    --prompts "$prompts" --split heldout --judge verifier --max-tokens "$max_tokens" \
    "${reuse[@]}" --out "$out/$1/winrate.json"
}
train() {  # method data output name [flags]; false (and the row left out) when there is no data
  if [ ! -s "$2" ]; then
    echo "loop experiment: $2 has no rows; the row $4 is left out" >&2
    return 1
  fi
  [ -f "$3/report.json" ] || "$pasar" align "$1" --model "${from:-$student}" --data "$2" --output "$3" \
    --lora --max-steps "$steps" --batch-size "$batch" --learning-rate "$lr" --resume "${@:5}"
  [ -f "$3.gguf" ] || "$pasar" models export-gguf "$3" --out "$3.gguf" --name "$4"
}
rejudge() {  # name: the LLM judge on a measured row's answers, with its agreement
  [ -f "$out/$1/llm-judge.json" ] || "$pasar" eval rejudge --report "$out/$1/winrate.json" \
    --prompts "$prompts" --judge "llm:$judge" --out "$out/$1/llm-judge.json"
}
only() {  # label file out: the BNF rows with that label only
  "$py" -c 'import json,sys; want=sys.argv[1]=="true"; rows=[l for l in open(sys.argv[2]) if json.loads(l)["label"]==want]; open(sys.argv[3],"w").writelines(rows)' "$@"
}

round() {  # r model: users talk to model (the student for r=1: off-policy); its feedback
  # trains version r from version r-1 (the student for r=1), which is registered, measured
  # and returned in $model
  local dir="$out/round-$1" from="$student"
  [ "$1" = 1 ] || from="$out/round-$(($1 - 1))/bnf"
  mkdir -p "$dir"
  [ -f "$dir/users.json" ] || "$pasar" feedback simulate --server "http://127.0.0.1:$port" \
    --model "$2" --baseline "$baseline" --prompts "$prompts" --split train --limit "$users" \
    --max-tokens "$max_tokens" --seed "$1" --out "$dir/users.json"
  for fmt in bnf sft dpo kto; do
    [ -f "$dir/$fmt.jsonl" ] || "$pasar" feedback export --format "$fmt" --model "$2" \
      --out "$dir/$fmt.jsonl"
  done
  train bnf "$dir/bnf.jsonl" "$dir/bnf" "$tag-bnf-r$1" || return 1
  measure "round-$1/bnf" "$tag-bnf-r$1"
  model="$tag-bnf-r$1"
  last="round-$1"
}

mkdir -p "$out/start"
measure start "$student"
round 1 "$student"

# On-policy: each round's users talk to the version the round before made.
for r in $(seq 2 "$rounds"); do
  round "$r" "$model" || break
done

# Every other method on the same round-1 feedback.
one="$out/round-1"
[ -f "$one/corrections.jsonl" ] || "$py" -c 'import json,sys; [print(json.dumps({"messages": r["prompt"] + r["chosen"]})) for r in map(json.loads, open(sys.argv[1]))]' "$one/dpo.jsonl" >"$one/corrections.jsonl"
[ -f "$one/down.jsonl" ] || only false "$one/bnf.jsonl" "$one/down.jsonl"
[ -f "$one/up.jsonl" ] || only true "$one/bnf.jsonl" "$one/up.jsonl"
other_row() {  # method data: trained on round 1's data, from the student, and measured
  train "$1" "$one/$2.jsonl" "$out/$1-$2" "$tag-$1-$2" && measure "$1-$2" "$tag-$1-$2"
}
other_row dpo dpo
other_row kto kto
other_row bnf down
# The LLM judge beside the verifier, on the start and the last round (before the cheaper rows,
# so that a run cut short still has the agreement).
rejudge start
rejudge "$last/bnf"
other_row sft corrections
other_row bnf up
# TRL DPO again with its reference computed live (the adapter switched off) instead of once
# before training: BNF's reference pass is counted in its time, so both DPO costs are shown.
train dpo "$one/dpo.jsonl" "$out/dpo-live-ref" "$tag-dpo-live-ref" --ref adapter &&
  measure dpo-live-ref "$tag-dpo-live-ref"

"$py" "$here/benchmarks/loop_table.py" "$out" --json "$out/table.json" --markdown "$out/table.md"
