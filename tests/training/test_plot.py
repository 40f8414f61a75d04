"""Learning-curve plots: every epoch visible, whole-number epochs on the x axis."""

from __future__ import annotations

import pytest

from anynet.training.plot import history_figure, plot_history

plt = pytest.importorskip("matplotlib.pyplot", reason="the plots need matplotlib (pip install 'anynet[plot]')")


def _x_ticks(ax):
    lo, hi = ax.get_xlim()
    return [t for t in ax.get_xticks() if lo <= t <= hi]


def test_a_one_epoch_run_shows_its_point_on_an_epoch_axis():
    fig = history_figure({"loss": [0.9], "accuracy": [0.5], "val_loss": [1.0], "val_accuracy": [0.4]})
    try:
        for ax in fig.axes:
            assert all(line.get_marker() == "o" for line in ax.get_lines())
            lo, hi = ax.get_xlim()
            assert lo < 1 < hi and hi - lo >= 1.0  # not the 0.96-1.04 of matplotlib's default margins
            assert _x_ticks(ax) == [1.0]
    finally:
        plt.close(fig)


def test_long_runs_are_lines_with_whole_epoch_ticks():
    fig = history_figure({"loss": [1.0 / (i + 1) for i in range(100)]})
    try:
        (ax,) = fig.axes
        assert ax.get_lines()[0].get_marker() in (None, "None", "")
        assert all(float(t).is_integer() for t in _x_ticks(ax))
    finally:
        plt.close(fig)


def test_plot_history_writes_a_png(tmp_path):
    path = plot_history({"loss": [0.9, 0.5], "accuracy": [0.5, 0.8]}, tmp_path / "curve.png", "title")
    assert path == str(tmp_path / "curve.png")
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
