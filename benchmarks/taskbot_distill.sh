#!/usr/bin/env bash
# A small Taskbot agent taught by a capable one (issue 22): the student learns the task flows'
# trajectories (SFT), then BNF on the teacher's judged episodes (its failed calls located per
# answer, thumbs down; answers of passed episodes, thumbs up), and each version is evaluated on
# the held-out scenarios and the paraphrases like every other agent in docs/taskbot.md. Every
# step is skipped when its output exists, so after a kill run the script again.
#
#   benchmarks/taskbot_distill.sh [OUT]        (OUT defaults to runs/taskbot-distill)
#
# Sizes from the environment: STUDENT, TEACHER, STEPS (optimizer steps per training run), BATCH,
# LR, MAX_LENGTH (tokens; longer trajectories are left out), TAU2_TASKS (tau2 train tasks the
# teacher plays, with itself as the user), TRIALS, LIMIT (only the first N scenarios of each
# set, for a smoke run), FORMAT (the student's tool protocol, below).
#
# FORMAT=template (default): the student runs its own chat template's tool protocol (the Qwen2.5
# 0.5B's card default, kept by its trained versions): the SFT rows are written in that form
# (`sft-data --render openai`) and the exported episodes carry the tools the teacher was
# offered, so both train on the text the engine will show the student. FORMAT=json: pasar's
# JSON protocol (`sft-data --model`, evaluated with PASAR_TOOL_FORMAT=json): its tool list is
# about 1,100 tokens shorter, so three times as many trajectories fit in 4,096 tokens (84 of
# 198 against 27); the BNF step is left out there, since the exported episodes render their
# tools in the template form. Exports are not redacted: the store holds the retail data's
# synthetic customers, and a redacted email would teach the agent to look up "[email]".
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
"$here/scripts/setup"
pasar="$here/.venv/bin/pasar"
out="$(realpath -m "${1:-runs/taskbot-distill}")"
student="${STUDENT:-qwen2.5-coder-0.5b-instruct}"
teacher="${TEACHER:-qwen2.5-coder-1.5b-instruct}"
steps="${STEPS:-40}"
batch="${BATCH:-1}"
lr="${LR:-1e-4}"
max_length="${MAX_LENGTH:-4096}"
tau2_tasks="${TAU2_TASKS:-6}"
trials="${TRIALS:-1}"
limit=(${LIMIT:+--limit "$LIMIT"})
format="${FORMAT:-template}"
case "$format" in
  template) render=(--render openai) ;;
  json) render=(--model "$student") ;;
  *) echo "taskbot distill: FORMAT=$format: use template or json" >&2; exit 2 ;;
esac
tag="$(basename "$out")"
scenarios="$here/examples/taskbot/scenarios.json"
paraphrases="$here/examples/taskbot/paraphrases.json"
tau2="$here/../shared/data/retail/tasks_train.json"
[ -f "$tau2" ] || tau2="${PASAR_DATA_DIR:-$here/../shared/data}/retail/tasks_train.json"
mkdir -p "$out"
export PASAR_HOME="${PASAR_HOME:-$HOME/.pasar}"
export PASAR_STORE_URL="sqlite:///$out/store.db"  # the teacher's recorded episodes

# 1. The flows' passing train episodes and tau2's gold trajectories, in the student's form.
[ -f "$out/sft.jsonl" ] || "$pasar" taskbot sft-data --tasks "$tau2" --tasks "$scenarios" \
  "${render[@]}" --out "$out/sft.jsonl"

train() {  # method base data dir name
  [ -f "$4/report.json" ] || "$pasar" align "$1" --model "$2" --data "$3" --output "$4" \
    --lora --max-steps "$steps" --batch-size "$batch" --learning-rate "$lr" \
    --max-length "$max_length" --drop-longer --resume
  [ -f "$4.gguf" ] || "$pasar" models export-gguf "$4" --out "$4.gguf" --name "$5"
}
evaluate() {  # model dir: held-out scenarios and paraphrases, as in docs/taskbot.md
  local agent=(--agent llm --model "$1" --no-log)
  [ -f "$2/heldout.json" ] || PASAR_TOOL_FORMAT="$format" "$pasar" taskbot eval "${agent[@]}" \
    --scenarios "$scenarios" --split heldout "${limit[@]}" --out "$2/heldout.json"
  [ -f "$2/paraphrases.json" ] || PASAR_TOOL_FORMAT="$format" "$pasar" taskbot eval \
    "${agent[@]}" --scenarios "$paraphrases" "${limit[@]}" --out "$2/paraphrases.json"
}

# 2. SFT of the student on those trajectories, evaluated.
train sft "$student" "$out/sft.jsonl" "$out/sft" "$tag-sft"
evaluate "$tag-sft" "$out/sft"

[ "$format" = template ] || {
  "$here/.venv/bin/python" "$here/benchmarks/taskbot_distill_table.py" "$out" \
    --json "$out/table.json" --markdown "$out/table.md"
  echo "taskbot distill: FORMAT=$format: SFT row only (see the head of this script)" >&2
  exit 0
}

# 3. The teacher plays the train scenarios and tau2 train tasks (JSON protocol, its best
# measured), recorded; the judge's verdicts become feedback on its answers.
for set in scenarios tau2; do
  episodes="$out/teacher-$set.json"
  if [ "$set" = scenarios ]; then
    source=(--scenarios "$scenarios" --split train "${limit[@]}")
  else
    source=(--scenarios "$tau2" --limit "$tau2_tasks" --max-turns 8)
  fi
  [ -f "$episodes" ] || PASAR_TOOL_FORMAT=json "$pasar" taskbot eval --agent llm \
    --model "$teacher" "${source[@]}" --trials "$trials" --out "$episodes"
  [ -f "$out/labels-$set.json" ] || "$pasar" taskbot label "${episodes%.json}.episodes.jsonl" \
    --out "$out/labels-$set.json"
done
[ -f "$out/bnf.jsonl" ] || "$pasar" feedback export --format bnf --model "$teacher" \
  --no-redact --out "$out/bnf.jsonl"

# 4. BNF from the SFT model on the teacher's labelled answers.
if [ -s "$out/bnf.jsonl" ]; then
  train bnf "$tag-sft" "$out/bnf.jsonl" "$out/sft-bnf" "$tag-sft-bnf"  # from the SFT GGUF
  evaluate "$tag-sft-bnf" "$out/sft-bnf"
else
  echo "taskbot distill: the teacher's episodes gave no labelled answers; no BNF row" >&2
fi
"$here/.venv/bin/python" "$here/benchmarks/taskbot_distill_table.py" "$out" \
  --json "$out/table.json" --markdown "$out/table.md"
