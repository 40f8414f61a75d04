#!/usr/bin/env bash
# The CPU backend matrix: install anynet with its test tools, the ONNX export extra and
# the CPU array libraries (NumPy, array-api-strict, PyTorch, JAX), then run the whole suite.
# The summary ends with one line per backend. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
# The real-data test needs Fashion-MNIST; the Debian/Ubuntu package provides it
# where we may install (never fails the run when we cannot).
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && [ ! -d /usr/share/datasets/fashion-mnist ]; then
    (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) >/dev/null 2>&1 \
        || echo "note: could not install dataset-fashion-mnist; the Fashion-MNIST test will be skipped"
fi
# [mpi]: mpi4py and the mpich wheel, so the tests under mpiexec -n 2 run (tests/training/parallel/test_parallel.py);
# [sklearn,safetensors,tensorboard,images]: the ecosystem and data tests; [docs]: the site build
python3 -m pip install --quiet --disable-pip-version-check -e ".[test,cpu,progress,plot,onnx,mpi,sklearn,safetensors,tensorboard,images,docs]" -r ci/backends.txt
# The easy things first: lint (pyflakes, pycodestyle, bugbear, pytest style; pyproject.toml)
python3 -m ruff check .
# The documentation site, strictly (broken links, missing references, docstring warnings fail the run);
# built into a temporary folder: the site is never committed. A few seconds.
site=$(mktemp -d)
NO_MKDOCS_2_WARNING=1 python3 -m mkdocs build --strict --quiet --site-dir "$site"
rm -rf "$site"
# two workers (pytest-xdist): the CI machine has two cores and the suite is mostly single-threaded
python3 -m pytest -n 2 "$@"
