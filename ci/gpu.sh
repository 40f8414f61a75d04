#!/usr/bin/env bash
# The GPU leg of anynet, on a machine with an NVIDIA GPU, CuPy and PyTorch-CUDA and no package index:
#   ci/gpu.sh all      setup, probe, smoke, profile, bench and tests, in that order, in $BUDGET seconds (about 8 min)
#   ci/gpu.sh setup    the wheels of .whl/ (--no-index, into $SITE), the imports, nvidia-smi, anynet's 'cuda'
#   ci/gpu.sh probe    each CUDA library anynet touches, one line each (ci/gpu-probe.py)
#   ci/gpu.sh smoke    `anynet train --data spiral` on each of $SMOKE_DEVICES, and a checkpoint resume
#   ci/gpu.sh profile  benchmarks/gpu_profile.py: a step's GPU, host and kernel time, kernels per step (60-90 s)
#   ci/gpu.sh bench    benchmarks/gpu.py (TF32 off on both sides), rows written as they are measured
#   ci/gpu.sh tests    the GPU test selection (-k "$SEL", ANYNET_TEST_GPU=1) on pytest-xdist workers
#   ci/gpu.sh list     what `tests` would run (pytest --collect-only), counted per backend
# Several steps may be named (`ci/gpu.sh smoke bench`). Every step reports and the next one runs;
# after a failed setup only the probe runs. Each step is bounded by `timeout` and by what is left of
# $BUDGET; summary.txt is printed last, whatever happened. Exit status 0 when every step passed, 1 if
# one failed, 2 for an unknown step. The array-api wheels (array-api-compat, -extra, -strict) travel
# in .whl/ (git-ignored: name it in the run's carry), with a CuPy kernel cache as .whl/cupy-cache.tgz.
# $OUT (default benchmarks/results) receives at most 8 files: summary.txt setup.log smoke.log
# gpu-bench.log (both benchmarks' log) results-gpu.md results-gpu-profile.md gpu-tests.log cupy-cache.tgz,
# and the tables' JSON twins results-gpu.json results-gpu-profile.json where that leaves room.
# Knobs, for a dry run on a CPU machine: BUDGET (s), SEL (pytest -k), TESTS (paths), WORKERS (0: no
# xdist), SMOKE_DEVICES (';'-separated `--device` arguments; the first is resumed), BENCH_ARGS, PROFILE_ARGS.
#   OUT=/tmp/dry WORKERS=0 SEL="numpy and conv" TESTS=tests/layers SMOKE_DEVICES="cpu;torch:cpu" \
#     BENCH_ARGS="--device cpu --peer cpu --models MLP --batches 16 --quick" bash ci/gpu.sh smoke bench tests
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(all)
[ "${steps[*]}" = all ] && steps=(setup probe smoke profile bench tests)
for step in "${steps[@]}"; do
  case $step in
    setup|probe|smoke|profile|bench|tests|list) ;;
    *) echo "ci/gpu.sh: unknown step '$step': use setup, probe, smoke, profile, bench, tests, list or all"; exit 2 ;;
  esac
done

export HOME=${HOME:-/root} PYTHONUNBUFFERED=1
# The matrix uses jax:cpu only; a CUDA-enabled JAX would otherwise take 75% of the GPU at its first array.
export JAX_PLATFORMS=cpu
# The lent machine runs everything as root and its mpiexec is Open MPI's, which refuses root unless told
# (MPICH's, on the CPU machines, ignores these).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# NCCL on one machine with no network: the loopback interface; warnings only.
export NCCL_SOCKET_IFNAME=${NCCL_SOCKET_IFNAME:-lo} NCCL_DEBUG=${NCCL_DEBUG:-WARN}
# CuPy compiles each kernel on first use (NVRTC); keep the compiled kernels between runs.
export CUPY_CACHE_DIR=${CUPY_CACHE_DIR:-$HOME/.cupy/kernel_cache}
# NVRTC compiles need the CUDA headers (cuda_fp16.h ...): the system toolkit where CUDA_PATH names none.
if [ -z "${CUDA_PATH:-}" ] && [ -d /usr/local/cuda/include ]; then export CUDA_PATH=/usr/local/cuda; fi
SITE=${SITE:-/tmp/anynet-site}
export PYTHONPATH=$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}
OUT=${OUT:-benchmarks/results}
BUDGET=${BUDGET:-480}
SEL=${SEL:-"cupy or torchcuda or nccl"}
TESTS=${TESTS:-tests}
WORKERS=${WORKERS:-8}
SMOKE_DEVICES=${SMOKE_DEVICES:-"cuda;cuda --precision float16;torch:cuda --precision bfloat16"}
BENCH_ARGS=${BENCH_ARGS:-}
PROFILE_ARGS=${PROFILE_ARGS:-}
# The modules the GPU leg imports (ANYNET_GPU_NEEDS overrides the list, for the set-up's own test).
needs=${ANYNET_GPU_NEEDS:-"numpy array_api_compat array_api_extra array_api_strict pytest hypothesis cupy torch"}
RESERVE=10  # seconds kept for the summary and the kernel cache
TESTS_MIN=200  # seconds the bench leaves for the tests when they follow it

mkdir -p "$OUT" "$CUPY_CACHE_DIR"
T0=$(date +%s)
SUMMARY=$OUT/summary.txt
SCRATCH=$(mktemp -d)
failed=""
: > "$SUMMARY"
el() { echo $(( $(date +%s) - T0 )); }
left() { echo $(( BUDGET - $(el) )); }
note() { echo "$*" >> "$SUMMARY"; }
indent() { sed 's/^/   /' >> "$SUMMARY"; }
fail() { failed="$failed $1"; }
limit() {  # seconds a step may take: at most $1, at least $2 (else 0), keeping $3 s for what follows
  local l=$(( $(left) - RESERVE - ${3:-0} ))
  [ "$l" -gt "$1" ] && l=$1
  [ "$l" -lt "$2" ] && l=0
  echo "$l"
}
rc_text() { [ "$1" -eq 124 ] || [ "$1" -eq 137 ] && echo "$1, TIMED OUT" || echo "$1"; }

finish() {
  local n
  n=$(find "$CUPY_CACHE_DIR" -type f 2>/dev/null | wc -l)
  note "== cupy kernel cache: $n files, $(du -sh "$CUPY_CACHE_DIR" 2>/dev/null | cut -f1)"
  if [ "$n" -gt 0 ] && tar czf "$SCRATCH/cupy-cache.tgz" -C "$CUPY_CACHE_DIR" . 2>/dev/null \
      && [ "$(stat -c %s "$SCRATCH/cupy-cache.tgz")" -lt 15000000 ]; then  # a larger one may not come back
    cp "$SCRATCH/cupy-cache.tgz" "$OUT/" && note "   in \$OUT/cupy-cache.tgz: carry it as .whl/cupy-cache.tgz next time"
  fi
  rm -f "$OUT"/*.tmp
  # $OUT brings back at most 8 files: past that the JSON twins go (each .md holds the same rows)
  [ "$(ls "$OUT" | wc -l)" -gt 8 ] && rm -f "$OUT"/results-gpu*.json
  rm -rf "$SCRATCH"
  note "== ${failed:+FAILED:$failed; }total $(el) s of $BUDGET; files: $(ls "$OUT" | tr '\n' ' ')"
  cat "$SUMMARY"
}
trap finish EXIT
trap 'exit 143' TERM INT  # through the EXIT trap: the summary is printed even then

have() { python3 -c "import $1" >/dev/null 2>&1; }
import_error() { python3 -c "import $1" 2>&1 | tail -1; }

wheels() {  # the pure-Python wheels of .whl/ into $SITE, when a module they bring is missing
  compgen -G ".whl/*.whl" >/dev/null || return 0
  have array_api_compat && have array_api_extra && have array_api_strict && return 0
  if [ -f .whl/SHA256SUMS ] && ! (cd .whl && sha256sum -c --quiet SHA256SUMS); then
    echo "wheels: a wheel in .whl/ does not match .whl/SHA256SUMS"
  fi
  echo "wheels: installing $(ls .whl/*.whl | tr '\n' ' ')into $SITE"
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl \
    || for w in .whl/*.whl; do python3 -m zipfile -e "$w" "$SITE"; done  # pure-Python wheels: a zip is enough
}

pip_names() {  # the pip names of modules; CuPy's by the driver's CUDA major version
  local m cuda names=""
  cuda=$(nvidia-smi 2>/dev/null | grep -o "CUDA Version: [0-9]*" | grep -o "[0-9]*$")
  for m in "$@"; do
    case $m in
      cupy) names="$names ${cuda:+cupy-cuda${cuda}x}${cuda:-cupy-cudaNNx (NN: the CUDA major version nvidia-smi shows)}" ;;
      *) names="$names ${m//_/-}" ;;
    esac
  done
  echo "${names# }"
}

wheel_for() {  # the wheel that brings module $1, read from its real import error
  local gone
  gone=$(import_error "$1" | sed -n "s/.*No module named '\([^'.]*\).*/\1/p")
  case ${gone:-$1} in
    "$1") pip_names "$1" ;;
    cuda) echo "cuda-pathfinder (CuPy 14 imports cuda.pathfinder)" ;;
    *) echo "${gone//_/-} (${1} imports ${gone})" ;;
  esac
}

setup() {
  local m gone="" l
  wheels
  for m in $needs; do have "$m" || gone="$gone $m"; done
  if [ -n "$gone" ]; then
    for m in $gone; do echo "set-up: import $m: $(import_error "$m")"; done
    echo "error: still missing:$gone. Put these wheels in .whl/ (on a machine with an index:"
    echo "  pip download --no-deps -d .whl $(for m in $gone; do wheel_for "$m"; done | tr '\n' ' ' | sed 's/ $//'))"
    return 1
  fi
  python3 -c "import sys; mods = [__import__(m) for m in sys.argv[1:]]
print('imports ok: python', sys.version.split()[0], *(f'{m.__name__} {getattr(m, \"__version__\", \"?\")}' for m in mods))" $needs \
    || return 1
  echo "CUDA_PATH=${CUDA_PATH:-unset} $(python3 -c "import json, sys; print('CUDA', json.load(open(sys.argv[1]))['cuda']['version'])" \
    "${CUDA_PATH:-/nonexistent}/version.json" 2>/dev/null)"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | sed 's/^/GPU: /'
  nvidia-smi 2>/dev/null | grep -o "CUDA Version: [0-9.]*" | sed 's/^/driver /'
  # anynet.as_device runs a kernel: a missing driver or CUDA library fails here, by name
  l=$(limit 60 5)
  [ "$l" -eq 0 ] && { echo "error: no time left for the device check"; return 1; }
  timeout -k 5 "$l" python3 -c "import anynet, cupy; d = anynet.as_device('cuda')
print('cupy', cupy.__version__, 'on', d, 'of', cupy.cuda.runtime.getDeviceCount(), 'GPU(s)')"
}

probe() {
  local l
  l=$(limit 120 10)
  [ "$l" -eq 0 ] && { note "== probe: skipped, $(left) s left"; return 0; }
  timeout -k 5 "$l" python3 ci/gpu-probe.py >> "$OUT/setup.log" 2>&1
  local rc=$?
  note "== probe: rc $(rc_text $rc) at $(el) s (limit $l s; tracebacks in setup.log)"
  grep -E "^(probe |python )" "$OUT/setup.log" | cut -c1-220 | indent
  return $rc
}

train() {  # one `anynet train` on spiral within the step's deadline: train DIR DEVICE-ARGS... [MORE ARGS]
  local dir=$1 l=$(( DEADLINE - $(date +%s) ))
  shift
  [ "$l" -lt 5 ] && { echo "### no time left for: $*"; return 124; }
  timeout -k 5 "$l" python3 -m anynet train --data spiral --verbose 0 --seed 1 --batchnorm --out "$dir" --device "$@"
}

smoke_lane() {  # the lines a run leaves: its last two, its exit status
  local name=$1 rc
  shift
  { echo "### anynet train --device $*"; train "$SCRATCH/$name" "$@" --epochs 30 2>&1 | tail -2
    rc=${PIPESTATUS[0]}; echo "### exit $rc ($*)"; } > "$SCRATCH/$name.log"
}

resume_lane() {  # 10 epochs and a checkpoint, resumed to 20, against 20 in one go: the same test loss
  local a r f
  { echo "### resume on --device $*"
    train "$SCRATCH/r1" "$@" --epochs 10 --checkpoint-every 5 2>&1 | tail -1 | sed 's/^/10 epochs: /'
    a=${PIPESTATUS[0]}
    train "$SCRATCH/r2" "$@" --epochs 20 --resume "$SCRATCH/r1/checkpoint.npz" 2>&1 | tail -1 > "$SCRATCH/r2.last"
    r=${PIPESTATUS[0]}
    train "$SCRATCH/r3" "$@" --epochs 20 --checkpoint-every 5 2>&1 | tail -1 > "$SCRATCH/r3.last"
    f=${PIPESTATUS[0]}
    sed 's/^/resumed to 20: /' "$SCRATCH/r2.last"; sed 's/^/20 in one go: /' "$SCRATCH/r3.last"
    if [ "$a$r$f" != 000 ]; then
      echo "### exit $(( a ? a : r ? r : f )) (resume on $*: exits $a $r $f)"
    elif cmp -s "$SCRATCH/r2.last" "$SCRATCH/r3.last"; then
      echo "### exit 0 (resume on $*: resumed = uninterrupted)"
    else
      echo "### exit 1 (resume on $*: the resumed run ends unlike the uninterrupted one)"
    fi; } > "$SCRATCH/resume.log" 2>&1
}

smoke() {
  local l i=0 args bad
  l=$(limit 120 20)
  [ "$l" -eq 0 ] && { note "== smoke: skipped, $(left) s left"; return 1; }
  DEADLINE=$(( $(date +%s) + l ))
  IFS=';' read -ra devices <<< "$SMOKE_DEVICES"
  for args in "${devices[@]}"; do
    i=$((i + 1)); smoke_lane "run$i" $args &
  done
  resume_lane ${devices[0]} &
  wait
  cat "$SCRATCH"/run*.log "$SCRATCH/resume.log" > "$OUT/smoke.log"
  note "== smoke: done at $(el) s (limit $l s, the runs side by side)"
  grep -v -E "^### (anynet train|resume on)|^wrote " "$OUT/smoke.log" | cut -c1-220 | head -30 | indent
  bad=$(grep -c "^### exit [^0]" "$OUT/smoke.log")
  [ "$(grep -c "^### exit 0" "$OUT/smoke.log")" -eq $((i + 1)) ] && [ "$bad" -eq 0 ]
}

# run_script STAGE SCRIPT LIMIT SHARE ARGS: a benchmark script, its output appended to gpu-bench.log, killed
# after LIMIT s; it starts no row after its --time-limit (SHARE of LIMIT, e.g. "3 / 4"), so it ends by itself
# before the timeout. Notes and returns its exit status.
run_script() {
  local stage=$1 script=$2 l=$3 share=$4 args=$5 rc
  echo "### $script" >> "$OUT/gpu-bench.log"
  timeout -k 5 "$l" python3 "$script" --out "$OUT" --time-limit $((l * $share)) $args >> "$OUT/gpu-bench.log" 2>&1
  rc=$?
  note "== $stage: rc $(rc_text $rc) at $(el) s (limit $l s${args:+, args: $args})"
  return $rc
}

profile() {
  local l after=0 rc
  [[ " ${steps[*]} " == *" bench "* ]] && after=60
  [[ " ${steps[*]} " == *" tests "* ]] && after=$((after + TESTS_MIN))
  l=$(limit 90 30 $after)
  [ "$l" -eq 0 ] && { note "== profile: skipped, $(left) s left (the steps after it keep $after s)"; return 1; }
  run_script profile benchmarks/gpu_profile.py "$l" "2 / 3" "$PROFILE_ARGS"
  rc=$?
  { grep -m1 "^| system" "$OUT/results-gpu-profile.md"
    grep -E "^## |^\| (PyTorch|anynet)|not measured|^\| error|does not work" "$OUT/results-gpu-profile.md"; } 2>/dev/null \
    | cut -c1-220 | indent
  return $rc
}

bench() {
  local l after=0 rc
  [[ " ${steps[*]} " == *" tests "* ]] && after=$TESTS_MIN
  l=$(limit 150 30 $after)
  [ "$l" -eq 0 ] && { note "== bench: skipped, $(left) s left (the tests keep $after s)"; return 1; }
  run_script bench benchmarks/gpu.py "$l" "3 / 4" "$BENCH_ARGS"
  rc=$?
  grep -E "^\| |does not work" "$OUT/results-gpu.md" 2>/dev/null | grep -v -- "---|" | cut -c1-220 | indent
  grep -E "Error|error" "$OUT/gpu-bench.log" | grep -v "^ " | head -5 | cut -c1-220 | indent
  return $rc
}

pytest_args() {  # workers and per-test timeouts where the plugins are installed
  [ "$WORKERS" -gt 0 ] && have xdist && echo "-n $WORKERS --dist loadfile"
  have pytest_timeout && echo "--timeout=150"
}

tests() {
  local l rc
  l=$(limit 100000 30)
  [ "$l" -eq 0 ] && { note "== tests: skipped, $(left) s left"; return 1; }
  # shellcheck disable=SC2046,SC2086 - the arguments split on purpose
  ANYNET_TEST_GPU=1 timeout -k 10 "$l" python3 -m pytest -v -p no:cacheprovider $(pytest_args) --durations=15 \
    -k "$SEL" $TESTS > "$OUT/gpu-tests.log" 2>&1
  rc=$?
  note "== tests: rc $(rc_text $rc) at $(el) s (limit $l s, -k \"$SEL\" $TESTS$([ "$rc" -eq 124 ] \
    && echo '; the -v log shows how far it got'))"
  grep -E "^ *(numpy|strict|torch|jax|cupy|torchcuda|\(no backend\)): |^=+ .*(passed|failed|error|skipped|no tests ran|deselected)" \
    "$OUT/gpu-tests.log" | indent
  # pytest's closing list of failures; a run stopped by the timeout has only the -v lines
  { grep -E "^(FAILED|ERROR) " "$OUT/gpu-tests.log" || grep -E " (FAILED|ERROR) " "$OUT/gpu-tests.log"; } \
    | cut -c1-220 | head -25 | indent
  [ "$rc" -eq 0 ]
}

list() {
  local l
  l=$(limit 300 10)
  [ "$l" -eq 0 ] && { note "== list: skipped, $(left) s left"; return 1; }
  ANYNET_TEST_GPU=1 timeout -k 5 "$l" python3 -m pytest --collect-only -q -p no:cacheprovider \
    -k "$SEL" $TESTS > "$OUT/gpu-tests.log" 2>&1
  local rc=$?
  note "== list: rc $rc, -k \"$SEL\" $TESTS: $(grep -c "::" "$OUT/gpu-tests.log") tests;" \
    "$(for b in cupy torchcuda nccl; do echo -n "$b $(grep "::" "$OUT/gpu-tests.log" | grep -c "$b"), "; done)"
  return $rc
}

if [ -f .whl/cupy-cache.tgz ]; then tar xzf .whl/cupy-cache.tgz -C "$CUPY_CACHE_DIR" 2>/dev/null; fi
note "== ci/gpu.sh ${steps[*]} at $(git rev-parse --short HEAD 2>/dev/null || echo '(no git)'), $(date -u +%FT%TZ)," \
  "budget $BUDGET s"
setup_failed=""
[[ " ${steps[*]} " == *" setup "* ]] || : > "$OUT/setup.log"  # this run's lines only
[[ " ${steps[*]} " =~ " "(profile|bench)" " ]] && : > "$OUT/gpu-bench.log"  # both benchmarks append to it
for step in "${steps[@]}"; do
  if [ -n "$setup_failed" ] && [ "$step" != probe ]; then
    note "== $step: skipped, the set-up failed"; fail "$step"; continue
  fi
  case $step in
    setup)
      setup > "$OUT/setup.log" 2>&1
      rc=$?
      note "== setup: rc $rc at $(el) s"
      grep -E "^(wheels|set-up|error|  pip|imports ok|CUDA_PATH|GPU|driver|cupy [0-9])" "$OUT/setup.log" | cut -c1-220 | indent
      if [ $rc -ne 0 ]; then
        setup_failed=1; fail setup
        note "   set-up failed: nothing else runs but the probe; its last errors:"
        grep -E "Error|error" "$OUT/setup.log" | tail -2 | cut -c1-400 | indent
      fi ;;
    probe) wheels >> "$OUT/setup.log" 2>&1; probe || fail probe ;;
    smoke) wheels >> "$OUT/setup.log" 2>&1; smoke || fail smoke ;;
    profile) wheels >> "$OUT/setup.log" 2>&1; profile || fail profile ;;
    bench) wheels >> "$OUT/setup.log" 2>&1; bench || fail bench ;;
    tests) wheels >> "$OUT/setup.log" 2>&1; tests || fail tests ;;
    list) wheels >> "$OUT/setup.log" 2>&1; list || fail list ;;
  esac
done
[ -z "$failed" ]
