"""One job request, run with the inference entry points a SageMaker endpoint uses.

`infra/sagemaker/<kind>/inference.py` defines model_fn / input_fn / predict_fn / output_fn. A local
worker process loads that file, keeps the model it returns for later requests (like a warm endpoint
container), and runs the request through the four functions.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

from reelmind.errors import ConfigError
from reelmind.settings import _REPO_ROOT

ENTRY_POINTS = _REPO_ROOT / "infra" / "sagemaker"
_modules: dict[str, ModuleType] = {}
_models: dict[str, Any] = {}


def entry_point(kind: str) -> ModuleType:
    if kind not in _modules:
        path = ENTRY_POINTS / kind / "inference.py"
        spec = importlib.util.spec_from_file_location(f"_reelmind_job_{kind}", path)
        if spec is None or spec.loader is None or not path.is_file():
            raise ConfigError(f"no inference entry point for {kind!r} at {path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _modules[kind] = module
    return _modules[kind]


def run_request(request: dict[str, Any], blob_root: str, model_dir: str) -> dict[str, Any]:
    """The manifest of a finished job: its outputs (name -> blob key) and what it learned."""
    module = entry_point(request["kind"])
    if request["kind"] not in _models:
        _models[request["kind"]] = module.model_fn(model_dir)
    body = json.dumps({**request, "store": Path(blob_root).resolve().as_uri()})
    data = module.input_fn(body, "application/json")
    prediction = module.predict_fn(data, _models[request["kind"]])
    manifest: dict[str, Any] = json.loads(module.output_fn(prediction, "application/json"))
    return manifest


def main(argv: list[str] | None = None) -> int:
    """`python -m reelmind.jobs.worker REQUEST.json BLOB_ROOT MODEL_DIR [module:function]`: run one job,
    print its manifest (or {"error", "message"}) as the last line of standard output."""
    import importlib
    import sys
    import traceback

    args = sys.argv[1:] if argv is None else argv
    request = json.loads(Path(args[0]).read_text())
    work = run_request
    if len(args) > 3:
        module, _, name = args[3].partition(":")
        work = getattr(importlib.import_module(module), name)
    try:
        manifest = work(request, args[1], args[2])
    except Exception as exc:
        body = {"error": getattr(exc, "code", type(exc).__name__), "message": str(exc)}
        if not hasattr(exc, "code"):
            body["trace"] = "".join(traceback.format_exception(exc))[-4000:]
        print(json.dumps(body))
        return 3
    print(json.dumps(manifest))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
