#!/usr/bin/env bash
# The same job-array route on one big machine: N shard processes side by side (xargs -P; GNU
# parallel works the same way), each into its own store, then one merge:
#   N=8 PROXIES=tenas PROFILE=tenas bash examples/parallel/run_shards.sh
# (On one machine `harness run-proxies --workers N` into one store is simpler; shards are for
# processes you want to stop, move or restart independently.)
set -euo pipefail
n=${N:-4}
out=${OUT:-runs/shards}
mkdir -p "$out"
export PROXIES=${PROXIES:-tenas} PROFILE=${PROFILE:-tenas} CELLS=${CELLS:-} out n
seq 1 "$n" | xargs -P "$n" -I{} sh -c 'harness run-proxies --space nb201 --proxies "$PROXIES" \
    --profile "$PROFILE" ${CELLS:+--indices "$CELLS"} --unique --shard {}/"$n" --threads 1 \
    --out "$out/shard_{}.sqlite" --quiet'
harness import --results "$out"/shard_*.sqlite --out "${MERGED:-runs/nb201.sqlite}"
