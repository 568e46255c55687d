#!/usr/bin/env bash
# One prepared GPU measurement (issue 6, benchmark 6): the base presets in bf16 on one GPU.
#
#   bash benchmarks/gpu.sh [SHARED] [OUT]      # defaults: ../shared bench-out/gpu
#
# Writes OUT/training_speed.json and OUT/training_speed_protein.json (per modality: Trainer against a bare loop, model FLOP/s over
# the measured bf16 matmul peak, training samples per second) and OUT/encode.json (encode
# throughput), plus OUT/nvidia-smi.txt and OUT/env.txt. Needs the project installed
# (pip install -e ".[bench]") and a CUDA build of torch; about 10 minutes on one H100/H200.
set -euo pipefail
SHARED=${1:-../shared}
OUT=${2:-bench-out/gpu}
mkdir -p "$OUT"
export HF_HUB_OFFLINE=1
nvidia-smi > "$OUT/nvidia-smi.txt"
python -c "import torch, sys; print(torch.__version__, torch.version.cuda, sys.version)" > "$OUT/env.txt"
# The largest preset of each modality: base for text and images, paper for proteins.
python benchmarks/training_speed.py --shared "$SHARED" --device cuda --preset base \
    --modalities text,image --precision bf16 --threads 8 --limit 20000 \
    --steps text=200,image=100 --warmup 20 --out "$OUT/training_speed.json"
python benchmarks/training_speed.py --shared "$SHARED" --device cuda --preset paper \
    --modalities protein --precision bf16 --threads 8 --limit 20000 --steps protein=200 \
    --warmup 20 --out "$OUT/training_speed_protein.json"
python benchmarks/inference_speed.py encode --shared "$SHARED" --out "$OUT" --threads 8 \
    --batch-size 512 --sizes 100000
echo "results in $OUT"
