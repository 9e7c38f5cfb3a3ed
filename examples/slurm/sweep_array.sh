#!/usr/bin/env bash
#SBATCH --job-name=nb201-proxies
#SBATCH --array=1-16
#SBATCH --cpus-per-task=4
#SBATCH --time=04:00:00
#SBATCH --output=logs/%x-%A_%a.out
#
# One shard of an NB201 sweep per Slurm array task: `sbatch examples/slurm/sweep_array.sh`, then
# `bash examples/slurm/merge.sh`. Each task writes its own SQLite store on the node's local disk
# (SQLite on a shared network file system is not safe for concurrent writers) and copies it to
# $OUT/shard_<i>.sqlite when it ends, also when the scheduler stops it (SIGTERM at the time limit):
# the sweep then records what it finished, and resubmitting the array resumes every shard from its
# copied store. Settings come from the environment:
#   PROXIES (default tenas), PROFILE (tenas), CELLS (--indices; default all 15,625 cells),
#   OUT (runs/shards), and any further run-proxies options in EXTRA (e.g. "--ntk-engine compiled").
set -euo pipefail

count=${SLURM_ARRAY_TASK_COUNT:-${SLURM_ARRAY_TASK_MAX:?run this as a Slurm array job (sbatch --array=1-N)}}
task=${SLURM_ARRAY_TASK_ID:?run this as a Slurm array job (sbatch --array=1-N)}
out=${OUT:-runs/shards}
local_dir=${SLURM_TMPDIR:-${TMPDIR:-/tmp}}/harness-${SLURM_ARRAY_JOB_ID:-job}-$task
store=$local_dir/shard.sqlite
mkdir -p "$out" "$local_dir"
if [ -f "$out/shard_$task.sqlite" ]; then
    cp "$out/shard_$task.sqlite" "$store"  # resume what an earlier submission finished
fi

copy_back() {
    # The sweep checkpoints its store when it ends, so the .sqlite file alone is the whole store.
    if [ -f "$store" ]; then
        cp "$store" "$out/.shard_$task.sqlite.tmp" && mv "$out/.shard_$task.sqlite.tmp" "$out/shard_$task.sqlite"
    fi
}
trap copy_back EXIT

status=0
harness run-proxies --space nb201 --proxies "${PROXIES:-tenas}" --profile "${PROFILE:-tenas}" \
    ${CELLS:+--indices "$CELLS"} --unique --shard "$task/$count" \
    --workers "${SLURM_CPUS_PER_TASK:-1}" --threads 1 --out "$store" --quiet ${EXTRA:-} || status=$?
exit "$status"
