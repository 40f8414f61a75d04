"""Every Python block of README.md and docs/ runs as a reader pastes it (see tests/docs/blocks.py for the
rule and the markers), so a renamed argument breaks a test, not a reader."""

from __future__ import annotations

import contextlib
import traceback
from pathlib import Path

import pytest

import anynet
from anynet.data.images import DataNotFoundError

from .blocks import MARKERS, blocks

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCKS = {page: blocks(page, ROOT) for page in PAGES}
LANGUAGES = {"python", "sh", "text", "toml", "yaml"}


def _fashion_mnist_reason() -> str | None:
    """None where the Fashion-MNIST files are found without a download, else why the blocks are skipped."""
    try:
        with anynet.configure(**anynet.RunConfig.from_environment().changed()):
            anynet.data.fashion_mnist(download=False)
    except DataNotFoundError:
        return "the Fashion-MNIST files are not installed (apt-get install dataset-fashion-mnist)"
    return None


def _run(block, namespace: dict) -> None:
    try:
        exec(compile(block.code, block.where, "exec"), namespace)
    except Exception as err:  # noqa: BLE001 - every failure becomes the page's message
        raise AssertionError(f"the block at {block.where} fails as pasted:\n{traceback.format_exc()}") from err


RUNNABLE = [page for page in PAGES if any(b.language == "python" and b.marker != "skip" for b in BLOCKS[page])]


@pytest.mark.parametrize("page", RUNNABLE, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_python_blocks_of_a_page_run_in_order(page, tmp_path, monkeypatch):
    runnable = [b for b in BLOCKS[page] if b.language == "python" and b.marker != "skip"]
    if any(b.marker == "fashion-mnist" for b in runnable) and (reason := _fashion_mnist_reason()):
        runnable = [b for b in runnable if b.marker != "fashion-mnist"]
        if not runnable:
            pytest.skip(reason)
    monkeypatch.chdir(tmp_path)  # whatever the page writes lands in a fresh folder
    namespace: dict = {"__name__": "__main__"}
    with _one_blas_thread():
        for block in runnable:
            _run(block, namespace)


def _one_blas_thread():
    """One BLAS thread while the pages run: their matrices are small, and on a busy 2-core machine
    threaded OpenBLAS ran the Fashion-MNIST MLP block 30x slower (6.6 s against 0.18 s)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # the extra ``cpu``; without it the blocks still run, only slower
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


SKIPPED = [b for page in PAGES for b in BLOCKS[page] if b.language == "python" and b.marker == "skip"]


@pytest.mark.parametrize("block", SKIPPED, ids=lambda b: b.where)
def test_blocks_marked_skip_say_why(block):
    assert block.reason, f"{block.where}: write the reason after the marker: ```python skip: REASON"
    compile(block.code, block.where, "exec")  # not run, but it must still be Python
    pytest.skip(f"{block.where}: {block.reason}")


def test_every_fence_names_its_language_and_a_known_marker():
    bad = [f"{b.where}: ```{b.language} {b.marker or ''}".rstrip() for page in PAGES for b in BLOCKS[page]
           if b.language not in LANGUAGES or (b.marker is not None and b.marker not in MARKERS)
           or (b.marker is not None and b.language != "python")]
    assert bad == [], f"fences without a known language ({sorted(LANGUAGES)}) or marker ({MARKERS})"

