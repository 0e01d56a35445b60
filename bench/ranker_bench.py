"""The ranker on simulated logs: AUC and GAUC per task against popularity, single-task networks, the
multi-task model without long-term interest features, and the oracle; cold start; training throughput.

Each seed draws its own world (`reelmind.ranking.simulator`) and logs `--days` days of it. Examples are
labelled and replayed from the event log exactly as training on production logs would be
(`build_examples`); the last 20% of impressions in time are held out (a time split: test impressions
are later than every training one). Models:
- popularity: each video's smoothed per-impression rates from its counters at impression time;
- single-task DNN: one network per task (embeddings + MLP), same features;
- multi-task (MMoE) with and without the long-term-interest block;
- oracle: the simulator's true probabilities.
Learnt models are scored as logged (with the slot's learnt examination probability, since the oracle's
probabilities include the slot too); the line "as served" scores every candidate at the top slot, against
the oracle at the top slot. GAUC: per-user AUC weighted by impressions, users with both classes only.
Cold start: fit on the training examples, then Spearman's correlation between its prediction for 500
new videos of the same world and their true appeal. Throughput: training samples per second of the
multi-task model, one CPU thread.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import defaultdict

import numpy as np

from bench.report import write_section
from reelmind.ranking.coldstart import fit_coldstart
from reelmind.ranking.dataset import build_examples
from reelmind.ranking.features import FeatureSpec, encode, from_examples
from reelmind.ranking.metrics import auc, gauc, spearman
from reelmind.ranking.serve import popularity_scores
from reelmind.ranking.simulator import SimConfig, make_world, simulate
from reelmind.ranking.train import TrainConfig, fit
from reelmind.ranking.types import TASKS

MODELS = ("popularity", "single-task DNN", "multi-task, no LTI", "multi-task", "oracle")
HOLDOUT = 0.2


def run_seed(seed: int, args: argparse.Namespace, out: dict[str, list[float]]) -> None:
    started = time.perf_counter()
    world = make_world(
        SimConfig(
            seed=seed, n_users=args.users, n_videos=args.videos, n_authors=args.videos // 7, days=args.days
        )
    )
    sim = simulate(world)
    examples = build_examples(sim.log, world.videos.table)
    late = examples.now >= np.quantile(examples.now, 1.0 - HOLDOUT)
    train, test = examples.take(np.flatnonzero(~late)), examples.take(np.flatnonzero(late))
    print(
        f"seed {seed}: {len(sim.log)} events, {len(train)} train / {len(test)} test impressions", flush=True
    )
    scores: dict[str, np.ndarray] = {}
    oracle = sim.oracle_for(test.event_id)
    scores["oracle"] = oracle
    scores["popularity"] = popularity_scores(test.stats)
    config = TrainConfig(epochs=args.epochs, seed=seed)
    served: dict[str, np.ndarray] = {}
    for name, long_term in (("multi-task", True), ("multi-task, no LTI", False)):
        spec = FeatureSpec(dim=world.config.dim, categories=world.categories, long_term=long_term)
        sparse, dense = encode(spec, from_examples(spec, train))
        sparse_t, dense_t = encode(spec, from_examples(spec, test))
        trained = fit(spec, config, sparse, dense, train.labels, train.position)
        scores[name] = trained.predict(sparse_t, dense_t, test.position)
        served[name] = trained.predict(sparse_t, dense_t)
        if long_term:
            out["throughput"].append(trained.samples_per_s)
            single = []
            for k, task in enumerate(TASKS):
                dnn = fit(
                    spec,
                    TrainConfig(kind="dnn", tasks=(task,), epochs=args.epochs, seed=seed),
                    sparse,
                    dense,
                    train.labels[:, k : k + 1],
                    train.position,
                )
                single.append(dnn.predict(sparse_t, dense_t, test.position)[:, 0])
            scores["single-task DNN"] = np.stack(single, axis=1)
    for name in MODELS:
        for k, task in enumerate(TASKS):
            out[f"auc/{name}/{task}"].append(auc(test.labels[:, k], scores[name][:, k]))
            out[f"gauc/{name}/{task}"].append(gauc(test.labels[:, k], scores[name][:, k], test.user_id))
    at_top = oracle / world.examination(test.position)[:, None]
    out["served/multi-task/click"].append(auc(test.labels[:, 0], served["multi-task"][:, 0]))
    out["served/oracle/click"].append(auc(test.labels[:, 0], at_top[:, 0]))
    cold = fit_coldstart(train, world.categories, version=f"bench-{seed}")
    new = world.new_videos(500, created_at=float(test.now.max()), seed=seed)
    out["coldstart"].append(spearman(cold.predict(new.features), new.appeal))
    out["impressions"].append(float(len(examples)))
    print(f"seed {seed} done in {time.perf_counter() - started:.0f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--videos", type=int, default=2000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/BENCHMARKS.md alone")
    args = parser.parse_args()
    started = time.perf_counter()
    out: dict[str, list[float]] = defaultdict(list)
    for seed in range(args.seeds):
        run_seed(seed, args, out)
    elapsed = time.perf_counter() - started

    def cell(key: str) -> str:
        v = np.array(out[key])
        return f"{v.mean():.4f} ± {v.std():.4f}" if len(v) > 1 else f"{v.mean():.4f}"

    lines = [
        f"{args.seeds} seeds; each a world of {args.users} users and {args.videos} videos logged for {args.days} days "
        f"(mean {np.mean(out['impressions']):,.0f} impressions), the last {HOLDOUT:.0%} in time held out; "
        f"{args.epochs} epochs. Mean ± standard deviation over seeds. Whole run: {elapsed:.0f} s.",
        "",
        "| model | "
        + " | ".join(f"AUC {t}" for t in TASKS)
        + " | "
        + " | ".join(f"GAUC {t}" for t in TASKS)
        + " |",
        "|---|" + "---|" * (2 * len(TASKS)),
    ]
    for name in MODELS:
        aucs = " | ".join(cell(f"auc/{name}/{t}") for t in TASKS)
        gaucs = " | ".join(cell(f"gauc/{name}/{t}") for t in TASKS)
        lines.append(f"| {name} | {aucs} | {gaucs} |")
    mean = {k: float(np.mean(v)) for k, v in out.items()}
    beats = all(mean[f"auc/multi-task/{t}"] > mean[f"auc/popularity/{t}"] for t in TASKS)
    gap = mean["auc/oracle/click"] - mean["auc/multi-task/click"]
    lines += [
        "",
        f"- as served (every candidate at the top slot), click AUC: multi-task {cell('served/multi-task/click')}, "
        f"oracle at the top slot {cell('served/oracle/click')}",
        f"- multi-task beats popularity on every task: {'yes' if beats else 'NO'}; click AUC gap to the oracle "
        f"{gap:.4f} ({'within' if gap <= 0.02 else 'NOT within'} 0.02)",
        f"- cold start, Spearman of predicted early engagement and true appeal of 500 new videos: {cell('coldstart')}",
        f"- training throughput (multi-task, one CPU thread): {np.median(out['throughput']):,.0f} samples/s "
        f"(load average at the end of the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)",
    ]
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section("ranker", body)


if __name__ == "__main__":
    main()
