"""fit and evaluate: the training loop of the slides' train / validation / test discipline.

fit trains on the training loader, measures on the validation loader after every epoch, keeps the weights of the
best validation epoch, and can stop early; the test set is for evaluate, once, at the end. Options: metrics,
a learning-rate scheduler, gradient clipping, mixed precision (bf16/fp16 on GPU), channels_last, torch.compile,
checkpoints with resume, and a tqdm progress bar.

Under torchrun (an initialised torch.distributed process group) fit trains with DistributedDataParallel: each
process gets 1/world of every global batch through a DistributedSampler, gradients are averaged, every rank
validates on the whole validation set with the plain module, and only rank 0 shows progress and writes
checkpoints. The loader's batch_size is the global batch, so a run on N processes follows the same trajectory as
a run on one.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .._extras import require
from .checkpoint import load_checkpoint, save_checkpoint
from .device import get_device

__all__ = ["History", "EarlyStopping", "fit", "evaluate"]


@dataclass
class History:
    """Per-epoch records ({"epoch", "train_loss", "val_loss", "val_<metric>", "lr", "seconds"})."""

    records: list = field(default_factory=list)
    best_epoch: int | None = None

    def __getitem__(self, key: str) -> list:
        return [r.get(key) for r in self.records]

    def plot(self, keys=None, logy: bool = False):
        """Training curves as a matplotlib Figure (losses by default)."""
        from ..viz import plot_curves

        keys = keys or [k for k in ("train_loss", "val_loss") if self.records and k in self.records[0]]
        return plot_curves({k: self[k] for k in keys}, xlabel="epoch", logy=logy, title="training history")


@dataclass
class EarlyStopping:
    """Stop when `monitor` has not improved by min_delta for `patience` epochs (mode "min" or "max")."""

    patience: int = 5
    monitor: str = "val_loss"
    mode: str = "min"
    min_delta: float = 0.0

    def better(self, value: float, best: float | None) -> bool:
        if best is None:
            return True
        return value < best - self.min_delta if self.mode == "min" else value > best + self.min_delta


def _distributed():
    """(rank, world_size) under torchrun with an initialised process group, else (0, 1)."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _shard(loader, rank: int, world: int, epoch_seed: int = 0):
    """The same global batches, split across ranks: each rank gets batch_size / world of every batch."""
    from torch.utils.data import DataLoader, DistributedSampler

    if isinstance(loader.sampler, DistributedSampler):
        return loader
    if loader.batch_size is None or loader.batch_size % world:
        raise ValueError(f"under {world} processes the loader's batch_size ({loader.batch_size}) must be divisible "
                         f"by the number of processes, so that the global batch stays the same")
    shuffle = not isinstance(loader.sampler, torch.utils.data.SequentialSampler)
    sampler = DistributedSampler(loader.dataset, num_replicas=world, rank=rank, shuffle=shuffle, seed=epoch_seed,
                                 drop_last=loader.drop_last)
    return DataLoader(loader.dataset, batch_size=loader.batch_size // world, sampler=sampler,
                      num_workers=loader.num_workers, collate_fn=loader.collate_fn, pin_memory=loader.pin_memory,
                      drop_last=loader.drop_last)


def _to(batch, device, channels_last=False):
    inputs, targets = batch[0], batch[1]
    inputs = inputs.to(device, non_blocking=True)
    if channels_last and inputs.dim() == 4:
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    return inputs, targets.to(device, non_blocking=True)


def _amp_dtype(device: torch.device, amp) -> torch.dtype | None:
    """amp: False (off), "auto" (bf16 on GPUs that support it, else fp16; off on CPU) or a dtype."""
    if amp in (False, None):
        return None
    if isinstance(amp, torch.dtype):
        return amp
    if amp != "auto" and amp is not True:
        raise ValueError(f"amp must be False, True, 'auto' or a torch dtype, got {amp!r}")
    if device.type != "cuda":
        return None if amp == "auto" else torch.bfloat16
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _autocast(device: torch.device, dtype: torch.dtype | None):
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


@torch.no_grad()
def evaluate(model, loader, loss_fn=None, metrics=None, device="auto", amp=False, channels_last=False) -> dict:
    """Mean loss and metrics over a loader, each weighted by batch size. metrics: {name: fn(outputs, targets)}.

    device="auto" evaluates where the model's parameters are (a model trained on the CPU stays there on a GPU
    machine); a named device moves the model there first, as fit() does."""
    if device == "auto":
        first = next(model.parameters(), None)
        device = first.device if first is not None else get_device(None)
    else:
        device = get_device(device)
        model.to(device)
    dtype = _amp_dtype(device, amp)
    model.eval()
    totals, count = {}, 0
    for batch in loader:
        inputs, targets = _to(batch, device, channels_last)
        with _autocast(device, dtype):
            outputs = model(inputs)
        n = inputs.shape[0]
        count += n
        if loss_fn is not None:
            totals["loss"] = totals.get("loss", 0.0) + float(loss_fn(outputs.float(), targets)) * n
        for name, fn in (metrics or {}).items():
            totals[name] = totals.get(name, 0.0) + float(fn(outputs.float(), targets)) * n
    if count == 0:
        raise ValueError("evaluate() got an empty loader")
    return {k: v / count for k, v in totals.items()}


def fit(model, train_loader, val_loader=None, *, loss_fn, optimizer, epochs: int, metrics=None, device="auto",
        scheduler=None, scheduler_step: str = "epoch", grad_clip: float | None = None, amp=False,
        channels_last: bool = False, compile: bool = False, early_stopping: EarlyStopping | None = None,
        restore_best: bool = True, checkpoint: str | Path | None = None, resume: bool = False,
        progress: bool = True, callbacks=()) -> History:
    """Train `model` for up to `epochs` epochs and return its History.

    metrics: {name: fn(outputs, targets) -> float}, computed on the validation loader as val_<name>.
    scheduler: a torch LR scheduler, stepped per epoch (or per batch with scheduler_step="batch").
    early_stopping: an EarlyStopping (needs a val_loader); restore_best: load the best validation epoch's
    weights at the end. checkpoint: a path written atomically after every epoch; resume=True continues from it.
    callbacks: functions called as fn(epoch, record, model) after every epoch.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if early_stopping is not None and val_loader is None:
        raise ValueError("early stopping monitors validation results: pass a val_loader")
    rank, world = _distributed()
    if world > 1 and device == "auto":
        device = f"cuda:{torch.cuda.current_device()}" if torch.cuda.is_available() else "cpu"
    device = get_device(None if device == "auto" else device)
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    step_model = model
    if world > 1:  # DistributedDataParallel: gradients are averaged across processes after each backward
        step_model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
        train_loader = _shard(train_loader, rank, world)
        progress = progress and rank == 0
    if compile:
        step_model = torch.compile(step_model)
    dtype = _amp_dtype(device, amp)
    # fp16 gradients can underflow: scale the loss. bf16 has float32's range and needs no scaling.
    scaler = torch.amp.GradScaler(device.type, enabled=dtype is torch.float16)
    history, start_epoch, best_value, best_state, stale = History(), 0, None, None, 0
    # which validation value picks the best epoch: the early-stopping rule's, else the lowest validation loss
    criterion = early_stopping or EarlyStopping(monitor="val_loss", mode="min")
    if resume and checkpoint is not None and Path(checkpoint).exists():
        extra = load_checkpoint(checkpoint, model, optimizer, map_location=device)
        history = History(extra["history"], extra.get("best_epoch"))
        start_epoch, best_value, stale = extra["epoch"] + 1, extra.get("best_value"), extra.get("stale", 0)
        best_state = extra.get("best_state")
        if scheduler is not None and extra.get("scheduler") is not None:
            scheduler.load_state_dict(extra["scheduler"])
        # the checkpoint was mapped onto `device`, but the CPU generator takes its state from a CPU tensor only
        torch.set_rng_state(extra["rng"].cpu())
        if extra.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([state.cpu() for state in extra["cuda_rng"]])
        if extra.get("scaler") is not None:
            scaler.load_state_dict(extra["scaler"])

    bar = None
    for epoch in range(start_epoch, epochs):
        started = time.perf_counter()
        if hasattr(train_loader.sampler, "set_epoch"):
            train_loader.sampler.set_epoch(epoch)  # a new shuffle each epoch, the same on every rank
        model.train()
        total, count = 0.0, 0
        batches = train_loader
        if progress:
            require("coursekit.train.fit(progress=True)", "tqdm", extra="torch")
            from tqdm.auto import tqdm

            bar = tqdm(train_loader, desc=f"epoch {epoch + 1}/{epochs}", leave=False, dynamic_ncols=True)
            batches = bar
        for batch in batches:
            inputs, targets = _to(batch, device, channels_last)
            optimizer.zero_grad(set_to_none=True)
            with _autocast(device, dtype):
                outputs = step_model(inputs)
                loss = loss_fn(outputs, targets)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {loss.item()} in epoch {epoch + 1}: lower the learning rate "
                                         "or check the data")
            scaler.scale(loss).backward()
            if grad_clip is not None:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            scaler.step(optimizer)
            scaler.update()
            if scheduler is not None and scheduler_step == "batch":
                scheduler.step()
            n = inputs.shape[0]
            total, count = total + loss.item() * n, count + n
            if bar is not None:
                bar.set_postfix(loss=f"{total / count:.4f}")
        if bar is not None:
            bar.close()
        record = {"epoch": epoch + 1, "train_loss": total / max(count, 1), "lr": optimizer.param_groups[0]["lr"]}
        if val_loader is not None:
            # the plain module: a DistributedDataParallel forward on one rank alone could wait for the others
            results = evaluate(model if world > 1 else step_model, val_loader, loss_fn, metrics, device, amp,
                               channels_last)
            record.update({f"val_{k}": v for k, v in results.items()})
        if scheduler is not None and scheduler_step == "epoch":
            scheduler.step()
        record["seconds"] = time.perf_counter() - started
        history.records.append(record)

        if val_loader is not None and criterion.monitor in record:
            value = record[criterion.monitor]
            if criterion.better(value, best_value) and math.isfinite(value):
                best_value, stale, history.best_epoch = value, 0, epoch + 1
                best_state = copy.deepcopy(model.state_dict())
            else:
                stale += 1
        for callback in callbacks:
            callback(epoch + 1, record, model)
        if checkpoint is not None and rank == 0:  # one writer
            save_checkpoint(checkpoint, model, optimizer, epoch=epoch, history=history.records,
                            best_epoch=history.best_epoch, best_value=best_value, stale=stale,
                            best_state=best_state, rng=torch.get_rng_state(),
                            cuda_rng=torch.cuda.get_rng_state_all() if device.type == "cuda" else None,
                            scaler=scaler.state_dict() if scaler.is_enabled() else None,
                            scheduler=scheduler.state_dict() if scheduler is not None else None)
        if early_stopping is not None and stale >= early_stopping.patience:
            break
    if restore_best and best_state is not None:
        model.load_state_dict(best_state)
    return history
