"""anynet.parallel: one process here, and two under ``mpiexec -n 2`` (mpi_worker.py beside it),
each launch with its own time limit. Needs the ``mpi`` extra (mpi4py and the mpich wheel)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import anynet
from anynet.layers import BatchNorm
from anynet.testing import arr, host
from anynet.training import parallel

WORKER = os.path.join(os.path.dirname(__file__), "mpi_worker.py")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CPU_SPECS = ("cpu", "torch:cpu", "jax:cpu", "array_api_strict:device1")
# JAX compiles each operation per shape in each process: ~45 s of the launch on 2 busy cores, so
# it joins only on request; its all-reduce path (immutable arrays) is tested in one process below
WITH_JAX = os.environ.get("ANYNET_TEST_MPI_JAX") == "1"


def _mpiexec() -> str:
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        pytest.skip("mpi4py is not installed (pip install 'anynet[mpi]')")
    found = parallel.find_mpiexec()
    if found is None:
        pytest.skip("no mpiexec found (pip install 'anynet[mpi]' brings MPICH's)")
    return found


def launch(tmp_path, *args: str, timeout: float) -> tuple[subprocess.CompletedProcess, dict | None]:
    """``mpiexec -n 2 python mpi_worker.py OUT ARGS`` ended within ``timeout`` s; its result JSON."""
    out = tmp_path / "result.json"
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false"}
    cmd = [_mpiexec(), "-n", "2", sys.executable, WORKER, str(out), *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"{' '.join(cmd)} still ran after {timeout} s:\n{err.stderr}")
    return proc, (json.loads(out.read_text()) if out.exists() else None)


def _available(spec: str) -> str | None:
    try:
        dev = anynet.as_device(spec)
        dev.zeros((1,))
        return dev.name
    except Exception:  # noqa: BLE001 - a missing library is a skipped backend
        return None


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    """One launch runs every scenario that should succeed (start-up is the slow part)."""
    names = [name for name in map(_available, CPU_SPECS) if name is not None and (WITH_JAX or "jax" not in name)]
    proc, result = launch(tmp_path_factory.mktemp("mpi"), "all", *names, timeout=240)
    assert proc.returncode == 0 and result is not None, proc.stderr
    return result


# -- two processes -------------------------------------------------------------------------


def test_mlp_on_two_ranks_equals_one_process_on_the_global_batch(cpu_backend, two_ranks):
    """3 steps of Momentum with a global-norm clip: the clip sees the all-reduced gradient."""
    if cpu_backend.library == "jax" and not WITH_JAX:
        pytest.skip("JAX under mpiexec compiles for ~45 s here; ANYNET_TEST_MPI_JAX=1 runs it")
    if cpu_backend.is_gpu:
        pytest.skip("the two-rank runs cover the CPU devices; NCCL has its own tests")
    got = two_ranks["equal"][f"mlp {cpu_backend.name}"]
    print(f"largest difference, MLP on {cpu_backend.name}: {got['max_diff']:.3g}")
    assert got["same_on_ranks"]
    assert got["max_diff"] <= 4e-7 * max(1.0, got["scale"]), got  # a few float32 roundings
    assert got["loss_two"] == pytest.approx(got["loss_one"], rel=1e-6)


@pytest.mark.parametrize("spec", ["cpu", "torch:cpu"])
def test_simple_convnet_on_two_ranks_equals_one_process(spec, two_ranks):
    key = f"simple-convnet {anynet.as_device(spec).name}" if _available(spec) else None
    if key not in two_ranks["equal"]:
        pytest.skip(f"{spec} is not available")
    got = two_ranks["equal"][key]
    print(f"largest difference, SimpleConvNet on {spec}: {got['max_diff']:.3g}")
    assert got["same_on_ranks"]
    assert got["max_diff"] <= 4e-7 * max(1.0, got["scale"]), got


def test_shards_are_disjoint_cover_the_set_and_change_every_epoch(two_ranks):
    got = two_ranks["shards"]
    orders = []
    for ranks in got["epochs"]:
        assert not set(ranks[0]) & set(ranks[1])
        assert sorted(ranks[0] + ranks[1]) == list(range(got["n"]))
        orders.append(ranks[0])
    assert orders[0] != orders[1] != orders[2]
    assert got["steps"][0] == got["steps"][1]


def test_checkpoint_written_on_two_ranks_resumes_exactly_on_two_ranks(two_ranks):
    """Dropout and BatchNorm: each rank's random streams and the buffers come back."""
    got = two_ranks["resume"]["cpu"]
    assert got["max_diffs"] == [0.0, 0.0]
    assert got["history_same"]


def test_synchronised_batchnorm_on_two_ranks_equals_one_process(two_ranks):
    assert two_ranks["syncbn"]["max_diff"] <= 1e-6


def test_a_diverged_run_stops_every_rank_and_keeps_the_last_good_checkpoint(two_ranks):
    got = two_ranks["diverge"]
    assert got["epochs"] == [1, 1] and got["diverged"] == [True, True]
    assert got["saved_epoch"] == 1


def test_anynet_train_under_mpiexec_needs_no_other_flag(tmp_path):
    env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"}
    cmd = [_mpiexec(), "-n", "2", sys.executable, "-m", "anynet", "train", "--epochs", "3", "--out", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("training mlp on spiral") == 1 and "on 2 processes" in proc.stdout
    assert proc.stdout.count("test accuracy") == 1
    assert (tmp_path / "checkpoint.npz").exists() and (tmp_path / "history.json").exists()


def test_a_rank_that_raises_stops_every_rank_naming_it(tmp_path):
    proc, result = launch(tmp_path, "fail", timeout=60)
    assert proc.returncode != 0 and result is None
    assert "rank 1 of 2 failed" in proc.stderr and "bad data on this rank" in proc.stderr


def test_ranks_with_different_models_are_refused_at_start(tmp_path):
    proc, result = launch(tmp_path, "mismatch", timeout=60)
    assert proc.returncode != 0 and result is None
    assert "rank 1 of 2 differs from rank 0 in model" in proc.stderr
    assert "(20, 9)" in proc.stderr and "(20, 8)" in proc.stderr


# -- one process ---------------------------------------------------------------------------------


def test_one_process_group_changes_nothing(cpu_backend):
    group = parallel.Group()
    assert (group.rank, group.size, group.local_rank, group.is_root) == (0, 1, 0, True)
    g = [arr(cpu_backend, np.ones((2, 3), np.float32))]
    assert parallel.GradientAllReduce(group)([], g)[0] is g[0]
    assert group.sum_floats([1.5, 2.0]) == [1.5, 2.0]


class _TwinGroup(parallel.Group):
    """Two ranks holding the same gradients, in one process: the sum is twice the array."""

    def __init__(self):
        super().__init__()
        self.size = 2

    def allreduce_sum(self, x):
        x *= 2.0  # in place where the library writes in place, as MPI and NCCL do
        return x


def test_gradient_allreduce_weighs_each_rank_by_its_share(cpu_backend):
    """The flat buffer (a kept one where arrays are writable, a new one on JAX) and its split."""
    rng = np.random.default_rng(0)
    host_grads = [rng.standard_normal(s).astype(np.float32) for s in [(3, 4), (4,), (2, 3, 2)]]
    grads = [arr(cpu_backend, g) for g in host_grads]
    for weight, factor in [(None, 1.0), (0.25, 0.5), (0.5, 1.0)]:
        transform = parallel.GradientAllReduce(_TwinGroup(), weight=weight)
        out = transform([], grads)
        for g, o in zip(host_grads, out):
            np.testing.assert_allclose(host(o), g * factor, rtol=1e-6)
            assert tuple(o.shape) == g.shape
    for g, h in zip(grads, host_grads):
        np.testing.assert_array_equal(host(g), h)  # the caller's gradients are left alone


@pytest.mark.parametrize("n", [23, 24, 9])
def test_sharded_loaders_cover_the_set_alike_on_the_device_and_from_the_host(cpu_backend, n):
    from anynet.data.dataset import DataLoader

    x, t = np.arange(n, dtype=np.float32)[:, None], np.arange(n)
    got = {}
    for resident in (True, False):
        shards = []
        for rank in range(2):
            loader = DataLoader((x, t), batch_size=4, device=cpu_backend, resident=resident, shard=(rank, 2), seed=3)
            loader.epoch = 2
            # each batch carries its share of the global batch: the global batch's size is its own over it
            batches = [(host(b.t).tolist(), round(b.t.shape[0] / b.weight)) for b in loader]
            shards.append(batches)
        got[resident] = shards
        ids = [i for shard in shards for batch, _ in shard for i in batch]
        assert sorted(ids) == list(range(n))
        assert len(shards[0]) == len(shards[1])
        for (a, ga), (b, gb) in zip(*shards):
            assert ga == gb == len(a) + len(b)  # both ranks know the global batch
    assert got[True] == got[False]


def test_allreduce_sums_the_optimizers_own_flat_gradient(cpu_backend):
    """Where the optimizer steps one flat buffer, its gradient buffer is the one all-reduced,
    and the optimizer then finds the gradients in place (no second copy)."""
    from anynet.optim import Momentum

    model, opt = anynet.MLP(4, [3], 2), Momentum(lr=0.1)
    params = model.params
    host_grads = [np.random.default_rng(i).standard_normal(p.shape).astype(np.float32) for i, p in enumerate(params)]
    transform = parallel.GradientAllReduce(_TwinGroup(), weight=0.25, flat_buffer=opt.flat_buffer)
    out = transform(params, [arr(cpu_backend, g) for g in host_grads])
    for g, o in zip(host_grads, out):
        np.testing.assert_allclose(host(o), g * 0.5, rtol=1e-6)
    buffer = opt.flat_buffer(params)
    if cpu_backend.writable:
        assert all(o is v for o, v in zip(out, buffer.grad_views()))
    else:
        assert buffer is None  # JAX steps each parameter: the all-reduce keeps its own buffer


def test_a_compiled_step_with_several_processes_is_refused():
    with pytest.raises(anynet.training.CompileError, match="several processes"):
        anynet.Trainer(anynet.MLP(4, [3], 2), anynet.SoftmaxWithLoss(), anynet.SGD(), compile=True,
                       group=_TwinGroup())


def test_two_processes_on_one_gpu_are_refused():
    class Twins(_TwinGroup):
        def gather(self, obj):
            return [obj, obj]

    class OneGpu:
        memory = ("cuda", 0)

    with pytest.raises(parallel.DistributedError, match=r"ranks 0 and 1 both use cuda device 0 on .*\('cuda'"):
        Twins().check_devices(OneGpu())
    Twins().check_devices(anynet.as_device("cpu"))  # processes share the CPU


def test_host_buffer_shares_memory_where_the_library_allows(cpu_backend):
    x = arr(cpu_backend, np.arange(4, dtype=np.float32))
    buf, own = cpu_backend.comm.host_buffer(x)
    assert buf.flags.writeable and buf.tolist() == [0.0, 1.0, 2.0, 3.0]
    buf[0] = 7.0
    back = x if own else cpu_backend.comm.from_host(buf)
    assert host(back).tolist() == [7.0, 1.0, 2.0, 3.0]
    # JAX is immutable, strict copies, a GPU's memory is not the host's
    assert own == (cpu_backend.library in ("numpy", "torch") and not cpu_backend.is_gpu)


def test_a_gpu_named_without_a_number_becomes_the_local_rank():
    assert anynet.backend.local_device("cpu", 1).name == "cpu"
    gpu = _available("cuda:1") or _available("torch:cuda:1")
    if gpu is None:
        pytest.skip("needs two CUDA GPUs (CuPy or PyTorch)")
    assert anynet.backend.local_device(gpu.rsplit(":", 1)[0], 1).name == gpu


class _OneRankSum(parallel.Group):
    """A group whose all-reduce returns its input: the sums of one process."""

    def allreduce_sum(self, x):
        return x


def test_batchnorm_with_a_one_process_sum_equals_plain_batchnorm(cpu_backend):
    rng = np.random.default_rng(0)
    for shape in [(6, 4), (3, 4, 5, 5)]:
        x, dout = rng.standard_normal(shape), rng.standard_normal(shape)
        plain = BatchNorm(4)
        synced = parallel.SyncBatchNorm.of(BatchNorm(4), _OneRankSum())
        x, dout = arr(cpu_backend, x, np.float32), arr(cpu_backend, dout, np.float32)
        np.testing.assert_allclose(host(synced.forward(x, True)), host(plain.forward(x, True)), atol=1e-6)
        d0, d1 = plain.backward(dout), synced.backward(dout)
        np.testing.assert_allclose(host(d1), host(d0), atol=1e-5)
        np.testing.assert_allclose(host(synced.running_var), host(plain.running_var), atol=1e-6)


def test_not_launched_means_one_process(monkeypatch):
    for name in parallel.launch._LAUNCH_VARS:
        monkeypatch.delenv(name, raising=False)
    assert not parallel.launched()
    assert parallel.init().size == 1


def test_train_help_says_how_to_run_on_several_processes(capsys):
    from anynet.cli import main

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "mpiexec -n 4 anynet train" in text and "per process" in text


# -- NCCL (CuPy on GPUs) --------------------------------------------------------------------------


def _cupy_gpu() -> anynet.Device:
    name = _available("cuda:0")
    if name is None:
        pytest.skip("NCCL needs CuPy and an NVIDIA GPU; this machine has none")
    dev = anynet.as_device(name)
    if dev.comm.collective(1, 0, lambda obj: obj) is None:  # CuPy 14 sets nccl.available = False
        pytest.skip("this CuPy has no NCCL")
    return dev


def test_nccl_sums_and_broadcasts_in_place_on_one_gpu():
    dev = _cupy_gpu()
    comm = dev.comm.collective(1, 0, lambda obj: obj)
    x = dev.from_numpy(np.arange(5, dtype=np.float32))
    assert comm.allreduce_sum(x) is x and host(x).tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert comm.broadcast(x) is x


def test_gradients_average_over_nccl_on_two_gpus(tmp_path):
    _cupy_gpu()
    if _available("cuda:1") is None:
        pytest.skip("NCCL between processes needs two GPUs (one per process); this machine has one")
    proc, result = launch(tmp_path, "all", "cuda", timeout=240)
    assert proc.returncode == 0, proc.stderr
    assert result["equal"]["mlp cuda"]["max_diff"] <= 1e-6


def test_synchronize_batchnorm_replaces_every_batchnorm_in_place_and_back():
    """Inside a Sequential and inside a Composite, keeping the same parameters."""
    model = anynet.Sequential(anynet.Affine(4, 4), BatchNorm(4), anynet.TransformerBlock(4, 2))
    block = model.layers[2]
    block.add("bn", BatchNorm(4))
    gamma = model.layers[1].gamma
    group = _TwinGroup()
    assert parallel.synchronize_batchnorm(model, group) == 2
    assert isinstance(model.layers[1], parallel.SyncBatchNorm) and isinstance(block.bn, parallel.SyncBatchNorm)
    assert model.layers[1].gamma is gamma and model.layers[1].group is group
    assert block.parts["bn"] is block.bn
    assert parallel.synchronize_batchnorm(model, parallel.Group()) == 2
    assert type(model.layers[1]) is BatchNorm and type(block.bn) is BatchNorm
    assert model.layers[1].gamma is gamma


def test_ranks_with_different_epochs_or_optimizer_settings_are_refused_at_start(tmp_path):
    proc, result = launch(tmp_path, "disagree", timeout=90)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "rank 1 of 2 differs from rank 0 in epochs: 3 where rank 0 has 2" in result["epochs"]
    assert "rank 1 of 2 differs from rank 0 in optimizer" in result["lr"] and "lr" in result["lr"]


def test_a_rank_whose_abort_returns_still_ends_and_never_goes_on(tmp_path):
    """An MPI whose Abort returns (the launcher ends the others) must not let the failing rank's
    script go on saving and evaluating: the process ends with the abort's status."""
    script = (
        "import sys\n"
        "from anynet.training import parallel\n"
        "class Comm:\n"
        "    def Get_rank(self): return 1\n"
        "    def Get_size(self): return 1\n"
        "    def Abort(self, status): pass\n"
        "group = parallel.Group(Comm())\n"
        "group.size = 2\n"
        "with group.guard():\n"
        "    raise RuntimeError('bad data on this rank')\n"
        "print('went on')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 1 and "went on" not in done.stdout
    assert "rank 1 of 2 failed; stopping every rank" in done.stderr and "bad data on this rank" in done.stderr


def test_ctrl_c_on_one_rank_of_the_command_stops_every_rank(monkeypatch, capsys):
    from anynet import cli

    aborted = []

    class Twins(_TwinGroup):
        def abort(self, why, status=1):
            aborted.append((why, status))

    def interrupted(args, group):
        raise KeyboardInterrupt

    monkeypatch.setattr(parallel, "init", lambda: Twins())
    monkeypatch.setattr(cli, "_run", interrupted)
    assert cli.main(["train", "--data", "spiral"]) == 130
    assert aborted == [("anynet: interrupted (Ctrl-C)", 130)]


def test_a_checkpoint_of_two_ranks_resumed_in_one_process_says_so(tmp_path):
    x, t = anynet.data.spiral()
    model = anynet.MLP(2, [4], 3)
    trainer = anynet.Trainer(model, anynet.SoftmaxWithLoss(), anynet.SGD(0.1), verbose=0)
    state = {**trainer.state(), "shuffle_seed": 7, "rank_rng": [anynet.backend.rng_state()] * 2}
    path = anynet.training.checkpoint.save(tmp_path / "c.npz", model, trainer.optimizer, state)
    with pytest.warns(UserWarning, match="written by 2 process"):
        trainer.load(path)
