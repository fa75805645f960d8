"""Training utilities: device choice, reproducible fits, validation discipline, checkpoints, resume, UNet Dice."""

import pytest

torch = pytest.importorskip("torch")
from torch.utils.data import DataLoader, Subset, TensorDataset  # noqa: E402

from coursekit.data import SyntheticShapesSegmentation  # noqa: E402
from coursekit.metrics import accuracy, dice_score  # noqa: E402
from coursekit.models import UNet  # noqa: E402
from coursekit.train import (  # noqa: E402
    EarlyStopping,
    History,
    evaluate,
    fit,
    get_device,
    load_checkpoint,
    save_checkpoint,
    seed_everything,
)


def test_get_device():
    assert get_device("cpu").type == "cpu"
    assert get_device().type in ("cuda", "mps", "cpu")
    if not torch.cuda.is_available():
        assert get_device().type != "cuda"
        with pytest.raises(ValueError, match="CUDA is not available"):
            get_device("cuda")


def _problem(seed=0, n=96):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    return TensorDataset(x[: n * 2 // 3], y[: n * 2 // 3]), TensorDataset(x[n * 2 // 3:], y[n * 2 // 3:])


def _model():
    return torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))


def _fit(epochs=5, seed=0, **kwargs):
    seed_everything(seed)
    train, val = _problem()
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    history = fit(model, DataLoader(train, batch_size=16, shuffle=True), DataLoader(val, batch_size=32),
                  loss_fn=torch.nn.functional.cross_entropy, optimizer=opt, epochs=epochs,
                  metrics={"acc": accuracy}, progress=False, **kwargs)
    return model, opt, history


def test_fit_records_losses_and_metrics_and_is_reproducible():
    model, _, history = _fit()
    assert [r["epoch"] for r in history.records] == [1, 2, 3, 4, 5]
    assert {"train_loss", "val_loss", "val_acc", "lr", "seconds"} <= set(history.records[0])
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert history["val_acc"][-1] > 0.8
    again = _fit()[2]
    assert history["val_loss"] == again["val_loss"]  # same seed, same run
    fig = history.plot()
    assert fig.axes


def test_best_epoch_is_restored_and_early_stopping_stops():
    model, _, history = _fit(epochs=30, early_stopping=EarlyStopping(patience=2))
    assert len(history.records) < 30
    best = history.best_epoch
    assert history["val_loss"][best - 1] == min(history["val_loss"])
    _, val = _problem()
    result = evaluate(model, DataLoader(val, batch_size=32), torch.nn.functional.cross_entropy)
    assert result["loss"] == pytest.approx(history["val_loss"][best - 1], rel=1e-5)
    with pytest.raises(ValueError, match="val_loader"):
        fit(_model(), DataLoader(_problem()[0]), loss_fn=torch.nn.functional.cross_entropy,
            optimizer=torch.optim.SGD(_model().parameters(), lr=0.1), epochs=1, early_stopping=EarlyStopping())


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    model = _model()
    path = save_checkpoint(tmp_path / "ck.pt", model, note="first")
    before = path.read_bytes()

    def crash(obj, f, *args, **kwargs):
        f.write(b"partial")
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, model, note="second")
    monkeypatch.undo()
    assert path.read_bytes() == before                       # the previous checkpoint survived
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]  # and no temporary file was left behind
    assert load_checkpoint(path, _model()) == {"note": "first"}


def test_resume_gives_the_same_result_as_an_uninterrupted_run(tmp_path):
    straight, _, history = _fit(epochs=4)
    ck = tmp_path / "run.pt"
    _fit(epochs=2, checkpoint=ck, restore_best=False)
    resumed, _, resumed_history = _fit(epochs=4, checkpoint=ck, resume=True, seed=123)  # seed ignored on resume
    assert resumed_history["train_loss"] == history["train_loss"]
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.slow
def test_unet_reaches_dice_090_on_held_out_cells_in_a_few_cpu_epochs():
    seed_everything(0)
    data = SyntheticShapesSegmentation(448, size=64, seed=0)
    train = DataLoader(Subset(data, range(384)), batch_size=16, shuffle=True)
    val = DataLoader(Subset(data, range(384, 448)), batch_size=64)
    model = UNet(1, 1, base_channels=16, depth=3, batch_norm=True)

    def loss_fn(logits, target):
        p = torch.sigmoid(logits)
        soft_dice = 1 - (2 * (p * target).sum() + 1) / (p.sum() + target.sum() + 1)
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, target) + soft_dice

    dice = {"dice": lambda logits, target: dice_score((logits > 0).int(), target.int())}
    history = fit(model, train, val, loss_fn=loss_fn, optimizer=torch.optim.Adam(model.parameters(), lr=3e-3),
                  epochs=4, metrics=dice, progress=False)
    assert max(history["val_dice"]) >= 0.9
    assert evaluate(model, val, metrics=dice)["dice"] >= 0.9   # restore_best kept the best epoch's weights


@pytest.mark.gpu
def test_fit_on_gpu_with_mixed_precision_and_channels_last():
    model = UNet(1, 1, base_channels=8, depth=2)
    data = SyntheticShapesSegmentation(32, size=32, seed=0)
    history = fit(model, DataLoader(data, batch_size=8), DataLoader(data, batch_size=8),
                  loss_fn=torch.nn.functional.binary_cross_entropy_with_logits,
                  optimizer=torch.optim.Adam(model.parameters(), lr=1e-3), epochs=2, device="cuda", amp="auto",
                  channels_last=True, progress=False)
    assert all(torch.isfinite(torch.tensor(history["train_loss"])))
    assert next(model.parameters()).device.type == "cuda"


@pytest.mark.gpu
def test_resume_on_gpu_with_fp16_and_dropout_matches_an_uninterrupted_run(tmp_path):
    """On CUDA a resumed run must restore the CPU generator from a state mapped onto the GPU, the CUDA generator
    (dropout draws from it) and the fp16 loss scaler; the checkpoint then still loads on a CPU-only machine."""
    def run(epochs, **kwargs):
        seed_everything(0)
        train, val = _problem()
        model = torch.nn.Sequential(torch.nn.Linear(6, 32), torch.nn.ReLU(), torch.nn.Dropout(0.3),
                                    torch.nn.Linear(32, 2))
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        history = fit(model, DataLoader(train, batch_size=16, shuffle=True), DataLoader(val, batch_size=32),
                      loss_fn=torch.nn.functional.cross_entropy, optimizer=opt, epochs=epochs, device="cuda",
                      amp=torch.float16, progress=False, restore_best=False, **kwargs)
        return model, history

    straight, history = run(4)
    ck = tmp_path / "gpu.pt"
    run(2, checkpoint=ck)
    resumed, resumed_history = run(4, checkpoint=ck, resume=True)
    assert resumed_history["train_loss"] == pytest.approx(history["train_loss"], rel=1e-6)
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    extra = load_checkpoint(ck, _dropout_free_twin(), map_location="cpu")
    assert extra["scaler"]["scale"] > 0 and all(state.device.type == "cpu" for state in extra["cuda_rng"])


@pytest.mark.gpu
def test_evaluate_runs_where_the_model_is_unless_told_otherwise():
    _, val = _problem()
    model = _model()
    on_cpu = evaluate(model, DataLoader(val, batch_size=8), torch.nn.functional.cross_entropy)  # GPU visible
    assert next(model.parameters()).device.type == "cpu"
    on_gpu = evaluate(model, DataLoader(val, batch_size=8), torch.nn.functional.cross_entropy, device="cuda")
    assert next(model.parameters()).device.type == "cuda"
    assert on_gpu["loss"] == pytest.approx(on_cpu["loss"], rel=1e-4)


def _dropout_free_twin():
    # the same parameter names as the GPU test's model: Linear, ReLU, Dropout, Linear
    return torch.nn.Sequential(torch.nn.Linear(6, 32), torch.nn.ReLU(), torch.nn.Identity(), torch.nn.Linear(32, 2))


@pytest.mark.slow
# torch's own inductor import uses a deprecated torch.jit API (torch 2.13); not ours to fix
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
def test_compiled_fit_matches_eager_fit_and_saves_plain_weights(tmp_path):
    """fit(compile=True) trains through torch.compile (TorchInductor, C++ on CPU) and must give the eager result;
    the model it hands back and checkpoints keeps its own state_dict keys (no `_orig_mod.` prefix)."""
    data = SyntheticShapesSegmentation(32, size=32, seed=0)

    def run(compile):
        seed_everything(0)
        model = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
                                    torch.nn.Conv2d(8, 1, 3, padding=1))
        history = fit(model, DataLoader(data, batch_size=8, shuffle=True), DataLoader(data, batch_size=16),
                      loss_fn=torch.nn.functional.binary_cross_entropy_with_logits,
                      optimizer=torch.optim.SGD(model.parameters(), lr=0.1), epochs=2, compile=compile,
                      checkpoint=tmp_path / f"compiled-{compile}.pt", progress=False)
        return model, history

    eager_model, eager = run(False)
    compiled_model, compiled = run(True)
    assert compiled["train_loss"] == pytest.approx(eager["train_loss"], rel=1e-4)
    assert compiled["val_loss"] == pytest.approx(eager["val_loss"], rel=1e-4)
    assert list(compiled_model.state_dict()) == list(eager_model.state_dict())
    assert list(torch.load(tmp_path / "compiled-True.pt")["model"]) == list(eager_model.state_dict())


def test_history_indexing():
    h = History([{"epoch": 1, "train_loss": 2.0}, {"epoch": 2, "train_loss": 1.0}])
    assert h["train_loss"] == [2.0, 1.0]


@pytest.mark.slow
def test_two_process_ddp_matches_one_process_on_the_same_global_batch(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    worker = Path(__file__).with_name("ddp_worker.py")
    single, double = tmp_path / "single.pt", tmp_path / "ddp.pt"
    subprocess.run([sys.executable, str(worker), str(single)], check=True, timeout=300)
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           str(worker), str(double)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    a, b = torch.load(single), torch.load(double)
    for key in a:
        assert torch.allclose(a[key], b[key], rtol=1e-5, atol=1e-6), key
