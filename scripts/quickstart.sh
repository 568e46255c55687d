#!/usr/bin/env bash
# Install eddpm into the active Python and run every subcommand on the bundled reviews.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
python -m pip install -q torch==2.13.0
python -m pip install -q -e .
run=runs/quickstart
# The small preset for 400 steps: about 3.5 minutes on 2 CPU cores. Enough for recognisable
# reconstructions of these 400 reviews and rough ones of new sentences; docs/results.md shows
# what a 55-minute run on 62,000 Yelp sentences reaches.
eddpm train --data examples/reviews.txt --labels --preset small --max-steps 400 --out "$run" --force
echo "== generate";    eddpm generate -n 5 --model "$run"
echo "== reconstruct"; eddpm reconstruct examples/queries.txt --model "$run" --metrics
echo "== encode";      eddpm encode examples/queries.txt --model "$run" -o "$run/queries.npz"
echo "== decode";      eddpm decode "$run/queries.npz" --model "$run"
echo "== interpolate"; eddpm interpolate "the staff was rude and slow ." "lovely staff and great coffee !" --model "$run"
echo "== edit";        eddpm edit examples/queries.txt --toward positive --model "$run"
