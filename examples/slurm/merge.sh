#!/usr/bin/env bash
# Merge the array's shard stores into one (all or nothing; identical rows once, conflicting rows an
# error naming them): `OUT=runs/shards bash examples/slurm/merge.sh`, then
# `harness correlate --results runs/nb201.sqlite --dataset all` or `harness report ...` on it.
set -euo pipefail
out=${OUT:-runs/shards}
merged=${MERGED:-runs/nb201.sqlite}
harness import --results "$out"/shard_*.sqlite --out "$merged"
