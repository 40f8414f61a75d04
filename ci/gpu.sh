#!/usr/bin/env bash
# The GPU leg, on a machine with an NVIDIA GPU and CuPy, in separate steps:
#   ci/gpu.sh setup    check (and install) what the tests need; fails early, naming missing wheels
#   ci/gpu.sh tests    the GPU backends only (CuPy, PyTorch-CUDA); the CPU matrix runs in ci/test.sh
#   ci/gpu.sh bench    the GPU benchmarks (benchmarks/gpu.py), TF32 off on both sides
# With no argument all three run, in that order; each later step runs even if an earlier one failed,
# except that nothing runs after a failed setup. GPU images ship CuPy, PyTorch and pytest but not the
# pure-Python array-api wheels: on a machine that reaches no package index put them in .whl/
# (pip download --no-deps -d .whl array-api-compat array-api-extra array-api-strict hypothesis).
# Results go to ${OUT:-benchmarks/results}.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-benchmarks/results}
mkdir -p "$out"
# The matrix uses jax:cpu only; a CUDA-enabled JAX would otherwise take 75% of the GPU at its first array.
export JAX_PLATFORMS=cpu
# CuPy compiles each kernel on first use; keep the compiled kernels between runs.
export CUPY_CACHE_DIR=${CUPY_CACHE_DIR:-$HOME/.cupy/kernel_cache}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
[ -d /tmp/anynet-site ] && export PYTHONPATH=/tmp/anynet-site:$PYTHONPATH  # wheels a set-up put there
# The modules the tests import (ANYNET_GPU_NEEDS overrides the list, for the set-up's own test).
needs=${ANYNET_GPU_NEEDS:-"numpy array_api_compat array_api_extra array_api_strict pytest hypothesis cupy"}

missing() {  # the modules of $needs that do not import
  local m gone=""
  for m in $needs; do python3 -c "import $m" >/dev/null 2>&1 || gone="$gone $m"; done
  echo "${gone# }"
}

wheels() {  # pip names of modules
  local m names=""
  for m in "$@"; do
    case $m in cupy) names="$names cupy-cuda12x[ctk] (or cupy-cuda13x[ctk])" ;; *) names="$names ${m//_/-}" ;; esac
  done
  echo "${names# }"
}

setup() {
  local gone
  gone=$(missing)
  if [ -n "$gone" ]; then
    echo "set-up: missing modules: $gone"
    if compgen -G ".whl/*.whl" >/dev/null; then
      python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/anynet-site .whl/*.whl || { echo "error: installing the wheels in .whl/ failed"; return 1; }
      export PYTHONPATH=/tmp/anynet-site:$PYTHONPATH
    else
      # a short timeout: an offline machine fails here in seconds, not after minutes of retries
      python3 -m pip install -q --retries 1 --timeout 10 $(wheels $gone | sed 's/ (or [^)]*)//') \
        || echo "pip could not install them (is a package index reachable?)"
    fi
    gone=$(missing)
    if [ -n "$gone" ]; then
      echo "error: still missing: $gone. Put these wheels in .whl/ (on a machine with an index:"
      echo "  pip download --no-deps -d .whl $(wheels $gone))"
      return 1
    fi
  fi
  python3 -c "import $(echo $needs | tr ' ' ','); print('imports ok')" || return 1
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
  # anynet.as_device runs a kernel, so a missing driver or CUDA library fails here, by name
  python3 -c "import anynet, cupy; d = anynet.as_device('cuda'); print('cupy', cupy.__version__, d, cupy.cuda.runtime.getDeviceCount(), 'GPU(s)')"
}

tests() {
  python3 -m pytest -q -p no:cacheprovider -k "cupy or torchcuda" 2>&1 | tee "$out/gpu-tests.log"
}

bench() {
  python3 benchmarks/gpu.py --out "$out" 2>&1 | tee "$out/gpu-bench.log"
}

steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(setup tests bench)
status=0
for step in "${steps[@]}"; do
  case $step in
    setup) setup || { echo "set-up failed: nothing else runs"; exit 1; } ;;
    tests) tests || status=1 ;;
    bench) bench || status=1 ;;
    *) echo "unknown step $step: use setup, tests or bench"; exit 2 ;;
  esac
done
exit $status
