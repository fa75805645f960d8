"""How much slower do the course's heavy workloads get on a busy machine, with and without yielding threads?

Two workloads, each run in a fresh Python process (the thread settings only take effect before torch loads):

* ``lecture``: the heaviest kind of lecture cell, training a 30-layer plain and a 30-layer residual CNN side by side
  for a few steps on the synthetic shapes (Lecture 6's gradient-flow demonstration);
* ``a3``: Assignment 3's reference training recipe (UNet base 16, depth 3, batch norm, Adam, BCE + Dice, 128
  membrane-stained images), two of its fifteen epochs.

Each is timed idle and beside N busy processes (N = cores, then 2 x cores; each busy process spins one core in pure
Python), once with coursekit's setting (``OMP_WAIT_POLICY=PASSIVE`` and friends, see coursekit/threads.py) and once
without it (the runtimes' defaults), all in one run. Fair share: the workload runs ``cores`` threads beside N
busy ones, so it may expect (N + cores) / cores times its idle time. The table prints each measured time as a
multiple of that expectation: 1.0 is a perfectly fair share; the target is <= 1.3 at 2x oversubscription.

    python benchmarks/contention.py                 both workloads (several minutes on 2 cores)
    python benchmarks/contention.py --quick         tiny sizes, to check that it runs
    python benchmarks/contention.py --workload a3
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coursekit.threads import THREAD_COUNT_VARIABLES, WAIT_VARIABLES, thread_env, usable_cores  # noqa: E402


# --------------------------------------------------------------------------------------------- workloads
def lecture_workload(quick: bool) -> None:
    """Two 30-layer CNNs (plain and residual) trained side by side on the synthetic shapes."""
    import torch
    from torch import nn

    from coursekit.data import SyntheticShapesClassification
    from coursekit.train import seed_everything

    seed_everything(0)
    depth, width, steps, size = (6, 8, 3, 16) if quick else (30, 16, 40, 32)
    data = SyntheticShapesClassification(64, size=size, seed=0)
    x = torch.stack([data[i][0] for i in range(64)])
    y = torch.tensor([int(data[i][1]) for i in range(64)])

    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.ReLU())

        def forward(self, z):
            return z + self.body(z)

    def network(residual):
        layers = [nn.Conv2d(1, width, 3, padding=1), nn.ReLU()]
        layers += [Residual() if residual else nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.ReLU())
                   for _ in range(depth - 2)]
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 5))

    for residual in (False, True):
        model = network(residual)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        for step in range(steps):
            batch = slice((step * 16) % 64, (step * 16) % 64 + 16)
            loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()


def a3_workload(quick: bool) -> None:
    """Assignment 3's reference training: UNet(16, depth 3, BN), Adam 3e-3, BCE + soft Dice, batch 16."""
    import torch
    from torch import nn
    from torch.utils.data import DataLoader

    from coursekit.data import SyntheticMembraneSegmentation
    from coursekit.models import UNet
    from coursekit.train import fit, seed_everything

    seed_everything(0)
    n, size, epochs, base = (16, 32, 1, 4) if quick else (128, 64, 2, 16)
    model = UNet(1, 1, base_channels=base, depth=3, batch_norm=True)

    def loss_fn(logits, target):
        p = torch.sigmoid(logits)
        dice = 1 - (2 * (p * target).sum() + 1) / (p.sum() + target.sum() + 1)
        return nn.functional.binary_cross_entropy_with_logits(logits, target) + dice

    fit(model, DataLoader(SyntheticMembraneSegmentation(n, size=size, seed=0), batch_size=16, shuffle=True),
        loss_fn=loss_fn, optimizer=torch.optim.Adam(model.parameters(), lr=3e-3), epochs=epochs, progress=False)


WORKLOADS = {"lecture": lecture_workload, "a3": a3_workload}


# ------------------------------------------------------------------------------------------- measuring
def _spin(stop) -> None:
    while not stop.is_set():
        for _ in range(100_000):
            pass


def worker_env(policy: bool, cores: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in WAIT_VARIABLES and k not in THREAD_COUNT_VARIABLES}
    if policy:
        env.update(thread_env(cores))
    else:
        env["COURSEKIT_THREAD_POLICY"] = "off"  # import coursekit leaves the runtimes' defaults alone
        env.update({name: str(cores) for name in THREAD_COUNT_VARIABLES})  # same thread count, default waiting
    return env


def timed_run(workload: str, policy: bool, busy: int, cores: int, quick: bool) -> float:
    """Seconds the workload takes in a fresh process beside `busy` spinning processes."""
    stop = mp.Event()
    spinners = [mp.Process(target=_spin, args=(stop,), daemon=True) for _ in range(busy)]
    for p in spinners:
        p.start()
    try:
        cmd = [sys.executable, __file__, "--worker", workload] + (["--quick"] if quick else [])
        done = subprocess.run(cmd, env=worker_env(policy, cores), capture_output=True, text=True, check=True)
        return json.loads(done.stdout.strip().splitlines()[-1])["seconds"]
    finally:
        stop.set()
        for p in spinners:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()


def measure(workloads, quick: bool = False, cores: int | None = None) -> list[dict]:
    """One row per (workload, busy processes, setting): seconds, slowdown against idle, ratio to fair share."""
    cores = cores or usable_cores()
    rows = []
    for workload in workloads:
        idle = {}
        for busy in (0, cores, 2 * cores):
            for policy in (True, False):
                seconds = timed_run(workload, policy, busy, cores, quick)
                if busy == 0:
                    idle[policy] = seconds
                fair = (busy + cores) / cores
                rows.append({"workload": workload, "busy": busy, "policy": policy, "seconds": seconds,
                             "slowdown": seconds / idle[policy], "fair": fair,
                             "vs_fair": seconds / idle[policy] / fair})
    return rows


def table(rows, cores: int) -> str:
    lines = [f"usable cores: {cores}; load before the run: {os.getloadavg()[0]:.2f}",
             f"{'workload':<9} {'busy':>4} {'setting':<16} {'seconds':>8} {'slowdown':>9} {'fair':>5} "
             f"{'x fair share':>12}"]
    for r in rows:
        setting = "yielding (ours)" if r["policy"] else "runtime default"
        lines.append(f"{r['workload']:<9} {r['busy']:>4} {setting:<16} {r['seconds']:8.1f} {r['slowdown']:8.2f}x "
                     f"{r['fair']:4.1f}x {r['vs_fair']:11.2f}x")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=sorted(WORKLOADS), action="append")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: check that the benchmark runs")
    parser.add_argument("--worker", choices=sorted(WORKLOADS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:  # inside the measured process
        start = time.perf_counter()
        WORKLOADS[args.worker](args.quick)
        print(json.dumps({"seconds": time.perf_counter() - start}))
        return 0
    cores = usable_cores()
    rows = measure(args.workload or ["lecture", "a3"], quick=args.quick, cores=cores)
    print(table(rows, cores))
    return 0


if __name__ == "__main__":
    sys.exit(main())
