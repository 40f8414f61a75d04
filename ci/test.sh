#!/usr/bin/env bash
# The CPU backend matrix: install anynet with its test tools and the CPU array
# libraries (NumPy, array-api-strict, PyTorch, JAX), then run the whole suite.
# The summary ends with one line per backend. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e ".[test,progress,plot]" -r ci/backends.txt
python3 -m pytest "$@"
