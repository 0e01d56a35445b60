"""Training the ranker (PyTorch): imported only by training code, never by serving.

Models, all over `features.encode`'s (sparse, dense) input:
- `mmoe`: Multi-gate Mixture-of-Experts (Ma et al., 2018): shared experts, one softmax gate and one tower
  per task (click, long_view, like, follow); the losses (binary cross-entropy) are summed.
- `dnn`: a single-task network (embeddings + MLP) for one task; the baseline trains one per task.

Position bias is learnt apart, as in PAL (Guo et al., 2019): in training, each task's probability is
the model's times a learnt examination probability of the slot the video was shown in (1 for the top
slot and for an unknown one); serving scores every candidate as if at the top, so the exported graph
has no position input.

Dense inputs are standardised with the training set's mean and deviation, kept inside the model as
buffers, so the exported ONNX graph takes `encode`'s output as it is. Sparse ids go through embedding
tables. The exported graph has inputs `sparse` (int64, n x 4) and `dense` (float32, n x d) and one
output per task (probabilities, n); its metadata holds the feature spec, the version and the tasks.
"""

from __future__ import annotations

import io
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from reelmind.ranking.features import FeatureSpec
from reelmind.ranking.types import TASKS


@dataclass(frozen=True, slots=True)
class TrainConfig:
    kind: str = "mmoe"  # "mmoe" or "dnn"
    tasks: tuple[str, ...] = TASKS
    embedding_dim: int = 16
    experts: int = 4
    expert_hidden: tuple[int, ...] = (128, 64)
    tower_hidden: int = 32
    epochs: int = 3
    batch_size: int = 1024
    learning_rate: float = 2e-3
    weight_decay: float = 1e-6
    seed: int = 0
    #: one thread: on a shared machine more threads spin against other processes and run slower
    threads: int = 1
    #: slots deeper than this share its position bias
    max_position: int = 20


def _mlp(sizes: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers)


class RankerNet(nn.Module):
    def __init__(self, spec: FeatureSpec, config: TrainConfig, mean: np.ndarray, std: np.ndarray) -> None:
        super().__init__()
        self.tasks = tuple(config.tasks)
        self.kind = config.kind
        self.max_position = config.max_position
        # examination = exp(-softplus(theta)); rows 0 (unknown slot) and 1 (the top slot) are held at 1
        self.position_bias = nn.Embedding(config.max_position + 2, len(self.tasks))
        nn.init.constant_(self.position_bias.weight, -1.0)
        self.embeddings = nn.ModuleList(nn.Embedding(n, config.embedding_dim) for n in spec.sparse_sizes())
        for emb in self.embeddings:
            assert isinstance(emb, nn.Embedding)
            nn.init.normal_(emb.weight, std=0.01)
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))
        width = len(spec.dense_names()) + config.embedding_dim * len(spec.sparse_sizes())
        hidden = config.expert_hidden
        if config.kind == "mmoe":
            self.experts = nn.ModuleList(_mlp([width, *hidden]) for _ in range(config.experts))
            self.gates = nn.ModuleList(nn.Linear(width, config.experts) for _ in self.tasks)
        elif config.kind == "dnn":
            self.experts = nn.ModuleList([_mlp([width, *hidden])])
            self.gates = nn.ModuleList()
        else:
            raise ValueError(f"unknown model kind {config.kind!r}")
        self.towers = nn.ModuleList(
            nn.Sequential(_mlp([hidden[-1], config.tower_hidden]), nn.Linear(config.tower_hidden, 1))
            for _ in self.tasks
        )

    def log_probs(
        self, sparse: torch.Tensor, dense: torch.Tensor, position: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(log p, log(1 - p)), each (n, tasks); with `position` (rows from `position_index`) p includes
        the slot's examination probability."""
        z = torch.stack(self._logits(sparse, dense), dim=1)
        log_p = nn.functional.logsigmoid(z)
        if position is not None:
            held = (position > 1).unsqueeze(1).to(dense.dtype)
            log_p = log_p - nn.functional.softplus(self.position_bias(position)) * held
        log_p = torch.clamp(log_p, max=-1e-7)
        return log_p, torch.log(-torch.expm1(log_p))

    def _logits(self, sparse: torch.Tensor, dense: torch.Tensor) -> list[torch.Tensor]:
        x = torch.cat(
            [(dense - self.mean) / self.std, *(emb(sparse[:, i]) for i, emb in enumerate(self.embeddings))],
            dim=1,
        )
        if self.kind == "dnn":
            shared = self.experts[0](x)
            return [tower(shared).squeeze(1) for tower in self.towers]
        experts = torch.stack([e(x) for e in self.experts], dim=1)  # (n, E, h)
        out = []
        for gate, tower in zip(self.gates, self.towers, strict=True):
            w = torch.softmax(gate(x), dim=1).unsqueeze(2)
            out.append(tower((w * experts).sum(dim=1)).squeeze(1))
        return out

    def forward(self, sparse: torch.Tensor, dense: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(torch.sigmoid(z) for z in self._logits(sparse, dense))


@dataclass(slots=True)
class Trained:
    net: RankerNet
    spec: FeatureSpec
    config: TrainConfig
    samples_per_s: float
    losses: list[float] = field(default_factory=list)

    def predict(
        self, sparse: np.ndarray, dense: np.ndarray, position: np.ndarray | None = None, batch: int = 65536
    ) -> np.ndarray:
        """(n, len(tasks)) probabilities; as served (top slot) unless the logged `position` is given."""
        self.net.eval()
        pos = (
            None if position is None else torch.from_numpy(position_index(position, self.config.max_position))
        )
        parts = []
        with torch.no_grad():
            for lo in range(0, len(dense), batch):
                log_p, _ = self.net.log_probs(
                    torch.from_numpy(np.ascontiguousarray(sparse[lo : lo + batch], np.int64)),
                    torch.from_numpy(np.ascontiguousarray(dense[lo : lo + batch], np.float32)),
                    None if pos is None else pos[lo : lo + batch],
                )
                parts.append(torch.exp(log_p).numpy())
        return np.concatenate(parts) if parts else np.zeros((0, len(self.config.tasks)), np.float32)


def position_index(position: np.ndarray, max_position: int) -> np.ndarray:
    """Slots as rows of the position-bias table: 0 unknown (-1), 1 + min(slot, max_position) otherwise."""
    pos = np.asarray(position, np.int64)
    out: np.ndarray = np.where(pos < 0, 0, np.minimum(pos, max_position) + 1).astype(np.int64)
    return out


def fit(
    spec: FeatureSpec,
    config: TrainConfig,
    sparse: np.ndarray,
    dense: np.ndarray,
    labels: np.ndarray,
    position: np.ndarray | None = None,
) -> Trained:
    """Train on encoded examples; `labels` has one column per task of `config.tasks`; `position` is each
    example's slot (-1 unknown), learnt as a bias apart from the served model."""
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    mean = dense.mean(axis=0)
    std = np.maximum(dense.std(axis=0), 1e-3)
    net = RankerNet(spec, config, mean, std)
    opt = torch.optim.Adam(net.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    s = torch.from_numpy(np.ascontiguousarray(sparse, np.int64))
    d = torch.from_numpy(np.ascontiguousarray(dense, np.float32))
    y = torch.from_numpy(np.ascontiguousarray(labels, np.float32).reshape(len(dense), -1))
    p = torch.from_numpy(
        position_index(np.full(len(dense), -1) if position is None else position, config.max_position)
    )
    if y.shape[1] != len(config.tasks):
        raise ValueError(f"{y.shape[1]} label columns for {len(config.tasks)} tasks")
    losses: list[float] = []
    started = time.perf_counter()
    net.train()
    for _ in range(config.epochs):
        order = torch.from_numpy(rng.permutation(len(d)))
        total = 0.0
        for lo in range(0, len(d), config.batch_size):
            idx = order[lo : lo + config.batch_size]
            log_p, log_q = net.log_probs(s[idx], d[idx], p[idx])
            target = y[idx]
            loss = -(target * log_p + (1.0 - target) * log_q).mean(dim=0).sum()
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / max(len(d), 1))
    elapsed = time.perf_counter() - started
    net.eval()
    return Trained(net, spec, config, config.epochs * len(d) / max(elapsed, 1e-9), losses)


def export_onnx(trained: Trained, version: str) -> bytes:
    """The model as ONNX bytes: inputs `sparse`, `dense`; one output per task; the spec in its metadata."""
    import onnx

    net = trained.net.eval()
    spec = trained.spec
    example = (
        torch.zeros((2, len(spec.sparse_sizes())), dtype=torch.int64),
        torch.zeros((2, len(spec.dense_names())), dtype=torch.float32),
    )
    buf = io.BytesIO()
    tasks = list(trained.config.tasks)
    torch.onnx.export(
        net,
        example,
        buf,  # type: ignore[arg-type]
        input_names=["sparse", "dense"],
        output_names=tasks,
        dynamic_axes={"sparse": {0: "n"}, "dense": {0: "n"}, **{t: {0: "n"} for t in tasks}},
        opset_version=17,
        dynamo=False,
    )
    model = onnx.load_from_string(buf.getvalue())
    for key, value in (("feature_spec", spec.to_json()), ("version", version), ("tasks", ",".join(tasks))):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    return bytes(model.SerializeToString())
