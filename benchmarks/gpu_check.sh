#!/usr/bin/env bash
# The prepared GPU check (see benchmarks/gpu_check.py), for a lent GPU machine: about 5 minutes.
# Writes gpu_check.json and gpu_check.log under $OUT when it is set. Extra arguments pass through.
set -o pipefail
export PYTHONUNBUFFERED=1
cd "$(dirname "$0")/.." || exit 2
log=${OUT:-/tmp}/gpu_check.log
timeout 330 "${PYTHON:-python3}" benchmarks/gpu_check.py --device "${DEVICE:-cuda}" "$@" 2>&1 | tee "$log"
