"""The imbalance answer on real paintings: compare-balance on wikiart7-large (3.3:1), two seeds.

Every strategy trains the default classifier with the same seed and a shorter
budget (8 epochs, under half the default's 18 on this set) and is scored on the test
split by balanced accuracy and macro-F1; the two seeds run side by side, one
thread each. Skips (keeps its last block) without ../shared/data.
"""

from __future__ import annotations

import tempfile
from typing import Any

from bench_real import Job, artstyle, data_root, run_jobs
from common import row

DATA = "wikiart7-large"
SEEDS = (0, 1)
EPOCHS = 8


def section(*, quick: bool) -> list[dict[str, Any]] | None:
    data = data_root() / DATA
    if not (data / "train").is_dir():
        print(f"   no real paintings under {data}: section skipped", flush=True)
        return None
    epochs = "2" if quick else str(EPOCHS)
    with tempfile.TemporaryDirectory(prefix="artstyle-balance-") as work:
        jobs = [
            Job(
                f"compare-balance seed {seed}",
                artstyle(
                    "compare-balance",
                    "--data",
                    str(data),
                    "--out",
                    f"{work}/seed{seed}",
                    "--seed",
                    str(seed),
                    "--epochs",
                    epochs,
                    "--progress",
                    "false",
                    "--cache-dir",
                    f"{work}/cache",
                ),
            )
            for seed in SEEDS
        ]
        run_jobs(jobs, key="best_strategy")
    by_strategy: dict[str, list[dict[str, Any]]] = {}
    for job in jobs:
        for item in job.result["rows"]:
            by_strategy.setdefault(item["strategy"], []).append(item)
    rows = []
    for strategy, items in by_strategy.items():
        scores = [item["balanced_accuracy"] for item in items]
        f1 = [item["macro_f1"] for item in items]
        rows.append(
            row(
                f"{DATA}, --balance {strategy}: test balanced accuracy",
                sum(scores) / len(scores),
                "",
                note=f"seeds {', '.join(map(str, SEEDS))}: "
                + " / ".join(f"{s:.3f}" for s in scores)
                + f"; macro-F1 {sum(f1) / len(f1):.3f}; {epochs} epochs",
            )
        )
    best = [job.result["best_strategy"] for job in jobs]
    rows.append(row(f"best strategy per seed: {' / '.join(best)}", len(set(best)), "distinct"))
    return rows
