#!/usr/bin/env bash
# The GPU leg, on a machine with an NVIDIA GPU and CuPy: the whole suite with the
# CuPy and PyTorch-CUDA backends beside NumPy, then the GPU benchmarks.
# Pure-Python wheels the machine lacks (array-api-compat, array-api-extra, array-api-strict)
# may be put in .whl/; they are installed from there without a network.
# Results go to ${OUT:-benchmarks/results}.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-benchmarks/results}
mkdir -p "$out"
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/anynet-site .whl/*.whl
  export PYTHONPATH=/tmp/anynet-site:$PWD${PYTHONPATH:+:$PYTHONPATH}
else
  python3 -m pip install -q -e ".[test]" || exit 1
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
python3 -c "import cupy; print('cupy', cupy.__version__, cupy.cuda.runtime.getDeviceCount(), 'device(s)')" || exit 1
status=0
python3 -m pytest -q -p no:cacheprovider 2>&1 | tee "$out/gpu-tests.log" || status=1
python3 benchmarks/gpu.py --out "$out" 2>&1 | tee "$out/gpu-bench.log" || status=1
exit $status
