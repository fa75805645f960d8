"""Run by tests/test_train.py under torchrun: fit the same model on 1 or 2 processes, rank 0 saves the weights."""

import os
import sys

import torch
from torch.utils.data import DataLoader, TensorDataset

from coursekit.train import fit, seed_everything


def main(out_path: str) -> None:
    distributed = "RANK" in os.environ
    if distributed:
        torch.distributed.init_process_group("gloo")
    seed_everything(0)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 5, generator=g), torch.randn(64, 1, generator=g)
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    fit(model, DataLoader(TensorDataset(x, y), batch_size=16), DataLoader(TensorDataset(x, y), batch_size=32),
        loss_fn=torch.nn.functional.mse_loss, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), epochs=3,
        progress=False, restore_best=False)
    if not distributed or torch.distributed.get_rank() == 0:
        torch.save(model.state_dict(), out_path)
    if distributed:
        # every rank waits until rank 0 has saved: a rank that exits while gloo's connections to the others
        # are still live aborts ("terminate called without an active exception")
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
        # leave without interpreter shutdown: its C++ static destructors can meet gloo threads still being torn
        # down and abort the process after the work is done (seen about once in 16 runs on this machine)
        sys.stdout.flush()
        os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1])
