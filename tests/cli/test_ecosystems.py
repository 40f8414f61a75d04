"""The command's doors to other tools: ``anynet train --tensorboard DIR`` (rank 0 only under mpiexec) and
``anynet export CHECKPOINT OUT.safetensors``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import anynet
from anynet.cli import UsageError, build_parser
from anynet.cli.export import ExportRun
from anynet.cli.train import TrainRun
from anynet.testing import host
from anynet.training import parallel

from .test_main import run_main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _scalars(logdir):
    reader = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    acc = reader.EventAccumulator(str(logdir), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [e.value for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_the_tensorboard_flag_is_part_of_the_run():
    assert TrainRun.from_args(build_parser().parse_args(["train"])).tensorboard is None
    assert TrainRun.from_args(build_parser().parse_args(["train", "--tensorboard", "tb"])).tensorboard == "tb"


def test_train_writes_the_epochs_figures_for_tensorboard(tmp_path):
    pytest.importorskip("tensorboardX")
    code, _, err = run_main(["train", "--epochs", "3", "--val-fraction", "0.2", "--verbose", "0",
                             "--out", str(tmp_path / "run"), "--tensorboard", str(tmp_path / "tb")])
    assert code == 0, err
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    scalars = _scalars(tmp_path / "tb")
    assert set(scalars) == {"loss", "accuracy", "val_loss", "val_accuracy", "time", "lr"}
    for tag in ("loss", "val_accuracy"):
        assert scalars[tag] == pytest.approx(history[tag], rel=1e-6)
    assert scalars["lr"] == [1.0, 1.0, 1.0]  # the spiral's default rate


def test_under_mpiexec_only_rank_0_writes_the_event_file(tmp_path):
    """Two processes of the command (about 10 s on two busy cores: the one way to see which rank writes)."""
    pytest.importorskip("tensorboardX")
    pytest.importorskip("mpi4py", reason="mpi4py is not installed (pip install 'anynet[mpi]')")
    mpiexec = parallel.find_mpiexec()
    if mpiexec is None:
        pytest.skip("no mpiexec found (pip install 'anynet[mpi]' brings MPICH's)")
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    cmd = [mpiexec, "-n", "2", sys.executable, "-m", "anynet", "train", "--epochs", "2", "--verbose", "0",
           "--out", str(tmp_path / "run"), "--tensorboard", str(tmp_path / "tb")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert len(os.listdir(tmp_path / "tb")) == 1  # rank 1 wrote none
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert _scalars(tmp_path / "tb")["loss"] == pytest.approx(history["loss"], rel=1e-6)  # the reduced figures


def _checkpoint(path, precision="float32"):
    net = anynet.cli.build_model("mlp", "spiral", hidden=6, layers=1)
    anynet.training.checkpoint.save(path, net, metadata={"model": "mlp", "data": "spiral", "hidden": 6, "layers": 1,
                                                         "precision": precision})
    return net


def test_export_writes_the_checkpoints_weights_as_safetensors(tmp_path):
    pytest.importorskip("safetensors")
    net = _checkpoint(tmp_path / "c.npz")
    code, out, err = run_main(["export", str(tmp_path / "c.npz"), str(tmp_path / "w.safetensors")])
    assert code == 0, err
    assert out.strip() == f"wrote {tmp_path / 'w.safetensors'}: the weights of mlp from {tmp_path / 'c.npz'}, 4 arrays"
    other = anynet.load_weights(anynet.cli.build_model("mlp", "spiral", hidden=6, layers=1),
                                tmp_path / "w.safetensors")
    for key, value in net.state_dict().items():
        assert np.array_equal(host(other.state_dict()[key]), host(value))


@pytest.mark.parametrize("flags", [["--batch", "2"], ["--input-shape", "2"], ["--traced"]])
def test_onnx_flags_are_refused_for_a_safetensors_file(tmp_path, flags):
    args = build_parser().parse_args(["export", "c.npz", "w.safetensors", *flags])
    with pytest.raises(UsageError, match="shape an ONNX graph; a .safetensors file holds only the weights"):
        ExportRun.from_args(args)
    code, _, err = run_main(["export", str(tmp_path / "c.npz"), str(tmp_path / "w.safetensors"), *flags])
    assert code == 2 and "only the weights" in err and not (tmp_path / "w.safetensors").exists()


def test_a_missing_optional_package_is_one_line_naming_the_extra(tmp_path, monkeypatch, capsys):
    """Without tensorboardX, ``--tensorboard`` is refused in one line (exit 2), not a traceback."""
    from anynet import cli

    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # import tensorboardX raises ImportError
    status = cli.main(["train", "--data", "spiral", "--epochs", "1", "--out", str(tmp_path / "run"),
                       "--tensorboard", str(tmp_path / "tb"), "--verbose", "0"])
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err and "tensorboard" in err, err
    assert not (tmp_path / "tb").exists()
