"""Voice conversion of a video's audio: pitch and formants moved separately, duration and timing kept.

Pitch presets (deeper, higher, child) use a phase vocoder that shifts pitch without changing the length:
every analysis frame (Hann window, 64-93 ms, hop a quarter of the shorter grain) is resynthesised as a
grain resampled by 1/ratio in the frequency domain (which multiplies every frequency by the ratio) and
overlap-added at the same hop as it was read, so frame m is heard exactly where it was. Phases are
propagated frame to frame from each bin's instantaneous frequency (measured with a derivative window),
with identity phase locking (Laroche and Dolson): every bin keeps its analysis phase relative to the
nearest spectral peak, which removes most of the vocoder's "phasiness". Resampling moves the spectral
envelope (the formants) with the pitch; each frame is then multiplied by E(f * ratio / formants) / E(f),
where E is that frame's envelope (a cepstrum liftered at about one pitch period, so the harmonics are
smoothed away), which puts the formants at `formants` times where they were instead.

The robot preset is a channel vocoder: the same frames' envelopes are imposed on a buzz at a fixed pitch
(110 Hz: equal harmonics up to Nyquist with Schroeder's phases, so it is not all in one click per period)
where the input is voiced, and on noise where it is not, so every voiced sound is on one note; the result
is then ring-modulated at twice that pitch, a metallic timbre whose partials stay harmonics of 110 Hz.
Its "pitch ratio" is therefore 110 Hz over the input's median pitch (`Preset.expected_ratio`), and
median_pitch of its output measures 110 Hz.

Pitch is measured with YIN (de Cheveigné and Kawahara 2002) on 10 ms frames; a frame is voiced when its
normalised difference dips below 0.25 and it is no more than 40 dB below the loudest frames.
Everything is numpy: no DSP library is needed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.audio.stream import AudioStream
from numpy.lib.stride_tricks import sliding_window_view

from reelmind.errors import BadRequest, CorruptMedia
from reelmind.media.probe import main_video, video_duration
from reelmind.media.scan import AUDIO_SLACK_S

#: the sample rate convert_video works at (a source at a lower rate is worked on at its own rate)
WORK_RATE = 32_000
MIN_RATE = 8_000
MAX_RATE = 192_000
PEAK = 0.99
#: YIN: the pitch range looked for, the dip threshold, when a frame counts as voiced, the frame hop
F0_MIN = 50.0
F0_MAX = 800.0
YIN_DIP = 0.15
YIN_VOICED = 0.25
PITCH_HOP_S = 0.01
SILENCE_DB = 40.0
MIN_VOICED_FRAMES = 3
#: frames processed at a time, which bounds memory whatever the duration
BLOCK = 256
#: the largest envelope correction, in either direction (natural log: about 26 dB)
MAX_GAIN = 3.0
_AAC_RATES = (96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000)


@dataclass(frozen=True, slots=True)
class Preset:
    """A voice. `pitch_ratio` multiplies F0 and `formant_ratio` the spectral envelope's frequencies; a
    preset with `target_hz` puts every voiced frame at that F0 instead (a monotone), with `ring_mix` of
    ring modulation at `ring_hz`."""

    name: str
    pitch_ratio: float | None
    formant_ratio: float
    target_hz: float | None = None
    ring_hz: float = 0.0
    ring_mix: float = 0.0

    def expected_ratio(self, input_median_hz: float) -> float:
        """The ratio median_pitch(output) / median_pitch(input) this preset aims at. For a monotone it is
        target_hz over the input's median pitch, both as `median_pitch` measures them."""
        if self.pitch_ratio is not None:
            return self.pitch_ratio
        assert self.target_hz is not None
        return self.target_hz / input_median_hz


PRESETS: dict[str, Preset] = {
    "deeper": Preset("deeper", pitch_ratio=0.75, formant_ratio=0.9),
    "higher": Preset("higher", pitch_ratio=1.33, formant_ratio=1.1),
    "robot": Preset(
        "robot", pitch_ratio=None, formant_ratio=1.0, target_hz=110.0, ring_hz=220.0, ring_mix=0.5
    ),
    "child": Preset("child", pitch_ratio=1.6, formant_ratio=1.25),
}

Progress = Callable[[float], None]


def _preset(name: str) -> Preset:
    chosen = PRESETS.get(name) if isinstance(name, str) else None
    if chosen is None:
        raise BadRequest(f"unknown voice preset {name!r}; choose one of {', '.join(PRESETS)}")
    return chosen


# --- conversion -------------------------------------------------------------------------------------------


def convert(samples: np.ndarray, rate: int, preset: str, progress: Progress | None = None) -> np.ndarray:
    """`samples` (mono, any float or int dtype scaled to +-1) in the voice of `preset`, as float32 of the
    same length and rate, at the input's loudness with peaks at most 0.99. Silence stays silence."""
    chosen = _preset(preset)
    x = _check_audio(samples, rate)
    out = np.zeros(len(x), np.float32)
    peak_in = float(np.max(np.abs(x)))
    if peak_in == 0.0:
        return out
    track = _yin(x, rate)
    if chosen.target_hz is not None:
        y = _robot(x, rate, chosen, track, progress)
    else:
        assert chosen.pitch_ratio is not None
        y = _shift(x, rate, chosen.pitch_ratio, chosen.formant_ratio, track, progress)
    rms_in, rms_out = _rms(x), _rms(y)
    if rms_out > 0.0:
        y *= rms_in / rms_out
    peak = float(np.max(np.abs(y)))
    limit = float(np.nextafter(np.float32(PEAK), np.float32(0.0)))  # still at most PEAK once in float32
    if peak > limit:
        y *= limit / peak
    out[:] = y
    return out


def _check_audio(samples: np.ndarray, rate: int) -> np.ndarray:
    arr = np.asarray(samples)
    if arr.ndim != 1:
        raise BadRequest(f"voice conversion takes mono audio (one dimension), not shape {arr.shape}")
    if arr.size == 0:
        raise BadRequest("the audio is empty")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise BadRequest(f"the sample rate must be from {MIN_RATE} to {MAX_RATE} Hz, not {rate}")
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise BadRequest(f"audio samples must be real numbers, not {arr.dtype}")
    x = arr.astype(np.float64)
    if np.issubdtype(arr.dtype, np.integer):
        x /= float(np.iinfo(arr.dtype).max) + 1.0
    if not np.all(np.isfinite(x)):
        raise BadRequest("the audio has samples that are not finite numbers")
    return x


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x))))


def _frame_size(rate: int) -> int:
    """A power of two from 50 to 100 ms: 1024 at 16 kHz, 2048 at 24-32 kHz, 4096 at 44.1-48 kHz."""
    return 1 << math.ceil(math.log2(0.05 * rate))


def _hann(n: int) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)


class _Frames:
    """Analysis frames of `x` centred every `hop` samples, `count` of them so the last reaches the end."""

    def __init__(self, x: np.ndarray, size: int, hop: int) -> None:
        self.size, self.hop = size, hop
        self.count = -(-len(x) // hop) + 1
        padded = np.pad(x, (size // 2, size // 2 + hop))
        self._view = sliding_window_view(padded, size)[::hop]

    def blocks(self) -> Iterator[tuple[int, np.ndarray]]:
        for start in range(0, self.count, BLOCK):
            yield start, self._view[start : min(start + BLOCK, self.count)]


class _OverlapAdd:
    """Grains of length `size` centred every `hop` samples, normalised by the summed squared window."""

    def __init__(self, length: int, size: int, hop: int, count: int) -> None:
        self.length, self.size, self.hop = length, size, hop
        self.window = _hann(size)
        self.offset = size // 2
        self.buffer = np.zeros((count - 1) * hop + size + 1)
        self.norm = np.zeros_like(self.buffer)
        sq = self.window**2
        for m in range(count):
            self.norm[m * hop : m * hop + size] += sq

    def add(self, first: int, spectra: np.ndarray, frame_size: int) -> None:
        """Grains `first`, `first + 1`, ... from the spectra of `frame_size`-sample frames (rfft)."""
        scale = self.size / frame_size  # keeps amplitudes through the change of length
        grains = np.fft.irfft(spectra, n=self.size, axis=1) * (self.window * scale)
        for i, grain in enumerate(grains):
            start = (first + i) * self.hop
            self.buffer[start : start + self.size] += grain

    def result(self) -> np.ndarray:
        norm = np.maximum(self.norm, 1e-3 * float(self.norm.max()))
        return (self.buffer / norm)[self.offset : self.offset + self.length]


def _shift(
    x: np.ndarray,
    rate: int,
    ratio: float,
    formants: float,
    track: _Track,
    progress: Progress | None,
) -> np.ndarray:
    n_fft = _frame_size(rate)
    grain = round(n_fft / ratio)  # the output grain: n_fft samples read, `grain` samples written
    effective = n_fft / grain  # the ratio every frequency is multiplied by
    hop = min(n_fft, grain) // 4
    frames = _Frames(x, n_fft, hop)
    ola = _OverlapAdd(len(x), grain, hop, frames.count)
    bins, out_bins = n_fft // 2 + 1, grain // 2 + 1
    keep = min(bins, out_bins)
    window = _hann(n_fft)
    dwindow = (np.pi / n_fft) * np.sin(2.0 * np.pi * np.arange(n_fft) / n_fft)  # d/dn of the window
    omega = 2.0 * np.pi * np.arange(bins) / n_fft
    advance_hop = hop * effective  # the output hop, measured in input samples' time
    warp = np.arange(bins) * effective / formants
    cutoffs = _cutoffs(track, rate, frames.count, hop)
    phase: np.ndarray | None = None
    for first, block in frames.blocks():
        spec = np.fft.rfft(block * window, axis=1)
        dspec = np.fft.rfft(block * dwindow, axis=1)
        mag = np.abs(spec)
        power = np.maximum(mag**2, 1e-30)
        inst = omega - np.imag(dspec * np.conj(spec)) / power  # radians per input sample
        env = _envelope(mag, cutoffs[first : first + len(block)])
        gain = np.clip(_interp_bins(env, warp) - env, -MAX_GAIN, MAX_GAIN)
        analysis = np.angle(spec)
        peak = _nearest_peaks(mag)
        rows = np.arange(len(block))[:, None]
        base = (inst * advance_hop)[rows, peak] + analysis - analysis[rows, peak]
        if phase is None:
            phase = analysis[0] - (inst[0] * advance_hop)
        out_phase = np.empty_like(base)
        for i in range(len(block)):
            phase = phase[peak[i]] + base[i]
            out_phase[i] = phase
        phase = np.mod(phase, 2.0 * np.pi)
        out = np.zeros((len(block), out_bins), complex)
        out[:, :keep] = (mag * np.exp(gain) * np.exp(1j * out_phase))[:, :keep]
        ola.add(first, out, n_fft)
        if progress is not None:
            progress(min(1.0, (first + len(block)) / frames.count))
    return ola.result()


def _robot(x: np.ndarray, rate: int, chosen: Preset, track: _Track, progress: Progress | None) -> np.ndarray:
    assert chosen.target_hz is not None
    n_fft = _frame_size(rate)
    hop = n_fft // 4
    frames = _Frames(x, n_fft, hop)
    ola = _OverlapAdd(len(x), n_fft, hop, frames.count)
    window = _hann(n_fft)
    bins = n_fft // 2 + 1
    cutoffs = _cutoffs(track, rate, frames.count, hop)
    voicing = _voicing(track, frames.count, hop)
    table = _buzz_table(int((0.5 * rate - 1.0) // chosen.target_hz))
    warp = np.arange(bins) / chosen.formant_ratio
    rng = np.random.default_rng(0)
    noise_level = math.exp(np.euler_gamma / 2)  # a complex Gaussian's mean log-magnitude is -gamma / 2
    pulses_env: np.ndarray | None = None
    for first, block in frames.blocks():
        count = len(block)
        env = _interp_bins(
            _envelope(np.abs(np.fft.rfft(block * window, axis=1)), cutoffs[first : first + count]), warp
        )
        # The buzz, read through the same frames (sample n of the padded signal is n - n_fft // 2).
        index = (np.arange(first, first + count)[:, None] * hop) + np.arange(n_fft) - n_fft // 2
        pulses = np.fft.rfft(_buzz(table, index, rate, chosen.target_hz) * window, axis=1)
        if pulses_env is None:
            pulses_env = _envelope(np.abs(pulses[:1]), np.full(1, rate / chosen.target_hz))
        noise = (rng.standard_normal((count, bins)) + 1j * rng.standard_normal((count, bins))) / math.sqrt(2)
        v = voicing[first : first + count, None]
        excitation = v * pulses * np.exp(-pulses_env) + (1.0 - v) * noise * noise_level
        ola.add(first, np.exp(env) * excitation, n_fft)
        if progress is not None:
            progress(min(1.0, (first + count) / frames.count))
    y = ola.result()
    t = np.arange(len(y)) / rate
    return y * (1.0 - chosen.ring_mix + chosen.ring_mix * np.cos(2.0 * np.pi * chosen.ring_hz * t))


def _buzz_table(harmonics: int, size: int = 4096) -> np.ndarray:
    """One period of a buzz: `harmonics` equal harmonics with Schroeder's phases (pi h^2 / H), whose sum
    stays low between pulses (a crest factor near 1.7, where in-phase harmonics give sqrt(2H))."""
    h = np.arange(1, harmonics + 1)
    spectrum = np.zeros(size // 2 + 1, complex)
    spectrum[1 : harmonics + 1] = np.exp(1j * np.pi * h * h / harmonics)
    table: np.ndarray = np.fft.irfft(spectrum, n=size)
    return table / float(np.sqrt(np.mean(table**2)))


def _buzz(table: np.ndarray, index: np.ndarray, rate: int, f0: float) -> np.ndarray:
    """The buzz at f0 at sample positions `index`, read from its one-period table with linear interpolation."""
    position = np.mod(index * (f0 / rate), 1.0) * len(table)
    low = position.astype(int) % len(table)
    frac = position - np.floor(position)
    out: np.ndarray = table[low] * (1.0 - frac) + table[(low + 1) % len(table)] * frac
    return out


def _nearest_peaks(mag: np.ndarray) -> np.ndarray:
    """For each bin, the index of the nearest spectral peak (a maximum over +-2 bins) in its frame."""
    count, bins = mag.shape
    padded = np.pad(mag, ((0, 0), (2, 2)), constant_values=-1.0)
    is_peak = np.ones_like(mag, bool)
    for d in (-2, -1, 1, 2):
        neighbour = padded[:, 2 + d : 2 + d + bins]
        is_peak &= mag > neighbour if d < 0 else mag >= neighbour
    is_peak &= mag > 0.0
    k = np.broadcast_to(np.arange(bins), (count, bins))
    before = np.maximum.accumulate(np.where(is_peak, k, -1), axis=1)
    after = np.minimum.accumulate(np.where(is_peak, k, bins)[:, ::-1], axis=1)[:, ::-1]
    far = 2 * bins
    to_before = np.where(before >= 0, k - before, far)
    to_after = np.where(after < bins, after - k, far)
    nearest = np.where(to_before <= to_after, before, after)
    return np.where((to_before == far) & (to_after == far), k, nearest)


def _envelope(mag: np.ndarray, cutoffs: np.ndarray) -> np.ndarray:
    """Log spectral envelope of each frame: its real cepstrum under a Hann lifter that reaches zero at
    `cutoffs` samples of quefrency (about one pitch period, where the harmonics' ripple sits)."""
    n_fft = 2 * (mag.shape[1] - 1)
    floor = 1e-3 * mag.max(axis=1, keepdims=True) + 1e-9  # valleys deeper than -60 dB count as -60 dB
    cepstrum = np.fft.irfft(np.log(mag + floor), n=n_fft, axis=1)
    q = np.arange(n_fft)
    q = np.minimum(q, n_fft - q)[None, :] / cutoffs[:, None]
    lifter = np.where(q < 1.0, 0.5 + 0.5 * np.cos(np.pi * np.minimum(q, 1.0)), 0.0)
    env: np.ndarray = np.fft.rfft(cepstrum * lifter, axis=1).real
    return env


def _interp_bins(values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """`values` (frames, bins) read at fractional bins `at`, linearly; past the last bin, the last bin."""
    last = values.shape[1] - 1
    at = np.clip(at, 0.0, last)
    low = np.minimum(at.astype(int), last - 1)
    frac = at - low
    out: np.ndarray = values[:, low] * (1.0 - frac) + values[:, low + 1] * frac
    return out


# --- pitch ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Track:
    hop: int  # samples between frame centres; frame i is centred on sample i * hop
    f0: np.ndarray  # Hz per frame (the best candidate, voiced or not)
    voiced: np.ndarray  # bool per frame


def median_pitch(samples: np.ndarray, rate: int) -> float | None:
    """The median F0 in Hz over voiced 10 ms frames (YIN, 50-800 Hz), or None when fewer than three
    frames are voiced (silence, noise, or no audio)."""
    arr = np.asarray(samples)
    if arr.size == 0:
        return None
    track = _yin(_check_audio(arr, rate), rate)
    if int(track.voiced.sum()) < MIN_VOICED_FRAMES:
        return None
    return float(np.median(track.f0[track.voiced]))


def _yin(x: np.ndarray, rate: int) -> _Track:
    hop = max(1, round(PITCH_HOP_S * rate))
    tau_min = max(2, math.floor(rate / F0_MAX))
    tau_max = math.ceil(rate / F0_MIN)
    width = tau_max  # the integration window: one longest period
    size = width + tau_max
    n_fft = 1 << math.ceil(math.log2(size))
    frames = _Frames(x, size, hop)
    taus = np.arange(1, tau_max + 1)
    f0 = np.zeros(frames.count)
    dip = np.ones(frames.count)
    energy = np.zeros(frames.count)
    for first, block in frames.blocks():
        count = len(block)
        rows = np.arange(count)
        head = np.fft.rfft(block[:, :width], n=n_fft, axis=1)
        whole = np.fft.rfft(block, n=n_fft, axis=1)
        corr = np.fft.irfft(np.conj(head) * whole, n=n_fft, axis=1)[:, 1 : tau_max + 1]
        cum = np.concatenate([np.zeros((count, 1)), np.cumsum(block**2, axis=1)], axis=1)
        e0 = cum[:, width] - cum[:, 0]
        et = cum[:, width + taus] - cum[:, taus]
        diff = np.maximum(e0[:, None] + et - 2.0 * corr, 0.0)
        running = np.cumsum(diff, axis=1)
        cmnd = np.where(running > 0.0, diff * taus / np.where(running > 0.0, running, 1.0), 1.0)
        search = cmnd[:, tau_min - 1 : tau_max - 1]  # column j is tau = j + tau_min
        below = search < YIN_DIP
        j = np.where(below.any(axis=1), np.argmax(below, axis=1), np.argmin(search, axis=1))
        last = search.shape[1] - 1
        while True:  # from the first dip under the threshold down to its local minimum
            step = (j < last) & (search[rows, np.minimum(j + 1, last)] < search[rows, j])
            if not step.any():
                break
            j += step
        a = search[rows, np.maximum(j - 1, 0)]
        b = search[rows, j]
        c = search[rows, np.minimum(j + 1, last)]
        curve = a - 2.0 * b + c
        inner = (j > 0) & (j < last) & (curve > 0.0)
        shift = np.where(inner, 0.5 * (a - c) / np.where(inner, curve, 1.0), 0.0)
        f0[first : first + count] = rate / (j + tau_min + np.clip(shift, -0.5, 0.5))
        dip[first : first + count] = b
        energy[first : first + count] = e0 / width
    loud = float(np.percentile(energy, 99))
    gate = max(1e-12, loud * 10.0 ** (-SILENCE_DB / 10.0))
    voiced = (dip < YIN_VOICED) & (energy > gate)
    return _Track(hop=hop, f0=f0, voiced=voiced)


def _at(track: _Track, count: int, hop: int) -> np.ndarray:
    """For frames centred every `hop` samples, the index of the pitch frame nearest each."""
    index: np.ndarray = np.minimum(np.round(np.arange(count) * hop / track.hop), len(track.f0) - 1)
    return index.astype(int)


def _cutoffs(track: _Track, rate: int, count: int, hop: int) -> np.ndarray:
    """Lifter cutoffs (samples of quefrency) for frames every `hop`: one pitch period where voiced, the
    median voiced period elsewhere, within 1.5-10 ms."""
    typical = float(np.median(track.f0[track.voiced])) if track.voiced.any() else 150.0
    idx = _at(track, count, hop)
    f0 = np.where(track.voiced[idx], track.f0[idx], typical)
    result: np.ndarray = np.clip(rate / f0, 0.0015 * rate, 0.010 * rate)
    return result


def _voicing(track: _Track, count: int, hop: int) -> np.ndarray:
    """How voiced each frame every `hop` samples is, 0..1, smoothed over three frames."""
    v = track.voiced[_at(track, count, hop)].astype(float)
    smoothed: np.ndarray = np.convolve(np.pad(v, 1, mode="edge"), np.ones(3) / 3.0, mode="valid")
    return smoothed


# --- video ------------------------------------------------------------------------------------------------


def convert_video(src: Path, dst: Path, preset: str, progress: Progress | None = None) -> Path:
    """`src` with its first audio track converted to `preset` (mono AAC at the source's sample rate) and its
    first video stream copied packet for packet, as an MP4 at `dst`. Other streams are left out; a file
    without video gives an audio-only MP4. `progress` is called with the fraction done, 0..1."""
    chosen = _preset(preset)
    report: Progress = progress or (lambda _fraction: None)
    audio, work_rate, out_rate, start_s = _decode_audio(src, lambda f: report(0.2 * f))
    if audio.size == 0:
        raise CorruptMedia(f"the audio track of {src.name} has no samples that could be decoded")
    converted = convert(audio, work_rate, chosen.name, lambda f: report(0.2 + 0.6 * f))
    report(0.8)
    _remux(src, dst, converted, work_rate, out_rate, start_s, lambda f: report(0.8 + 0.2 * f))
    report(1.0)
    return dst


def _open(src: Path) -> av.container.InputContainer:
    try:
        return av.open(str(src), metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise CorruptMedia(f"the file could not be opened for decoding: {exc}") from None


def _decode_audio(src: Path, progress: Progress) -> tuple[np.ndarray, int, int, float]:
    """(mono float32 samples at the working rate, that rate, the output rate, the start time in seconds)."""
    with _open(src) as container:
        if not container.streams.audio:
            raise BadRequest(f"{src.name} has no audio track to convert")
        stream = container.streams.audio[0]
        # Kept for as long as the pictures last and a second more, as ingest keeps it: sound running on
        # for hours past a short video (a mistake, or a file made to run up the bill) is not converted.
        video = main_video(container)
        pictures_s = video_duration(container, video) if video is not None else 0.0
        keep_s = pictures_s + AUDIO_SLACK_S if pictures_s > 0 else None
        source_rate = int(stream.codec_context.sample_rate or stream.rate or WORK_RATE)
        work_rate = min(WORK_RATE, max(MIN_RATE, source_rate))
        out_rate = source_rate if source_rate in _AAC_RATES else 48_000
        duration = float(container.duration or 0) / av.time_base
        # Decoders hand back the padding of the last AAC frame too: keep what the stream says it lasts.
        # (Read here: a stream's fields are freed with its container.)
        stream_s = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else None
        resampler = av.AudioResampler(format="flt", layout="mono", rate=work_rate)
        chunks: list[np.ndarray] = []
        start_s: float | None = None
        try:
            for frame in container.decode(stream):
                if start_s is None and frame.time is not None:
                    start_s = max(0.0, float(frame.time))
                if keep_s is not None and frame.time is not None and frame.time > (start_s or 0.0) + keep_s:
                    break
                chunks.extend(f.to_ndarray()[0] for f in resampler.resample(frame))
                if duration > 0 and frame.time is not None:
                    progress(min(1.0, float(frame.time) / duration))
            chunks.extend(f.to_ndarray()[0] for f in resampler.resample(None))
        except av.error.FFmpegError as exc:
            raise CorruptMedia(f"the audio could not be decoded: {exc}") from None
    audio = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    for limit_s in (stream_s, keep_s):
        if limit_s is not None:
            audio = audio[: round(limit_s * work_rate)]
    return audio, work_rate, out_rate, start_s or 0.0


def _remux(
    src: Path, dst: Path, audio: np.ndarray, rate: int, out_rate: int, start_s: float, progress: Progress
) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    with _open(src) as inp, av.open(str(dst), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        video_in = main_video(inp)
        video_out = out.add_stream_from_template(video_in) if video_in is not None else None
        audio_out = out.add_stream("aac", rate=out_rate)
        audio_out.layout = "mono"
        packets = _encode_audio(audio_out, audio, rate, start_s)
        pending = iter(packets)
        nxt = next(pending, None)
        if video_in is not None and video_out is not None:
            total = max(1, int(video_in.frames or 0))
            when = 0.0
            for n, packet in enumerate(inp.demux(video_in)):
                if packet.size == 0:  # the demuxer's empty packet at the end
                    continue
                when = _time(packet, when)
                while nxt is not None and _time(nxt, when) <= when:
                    out.mux(nxt)
                    nxt = next(pending, None)
                packet.stream = video_out
                out.mux(packet)
                if n % 64 == 0:
                    progress(min(1.0, n / total))
        while nxt is not None:
            out.mux(nxt)
            nxt = next(pending, None)


def _encode_audio(
    stream: AudioStream, audio: np.ndarray, rate: int, start_s: float
) -> list[av.Packet[AudioStream]]:
    packets: list[av.Packet[AudioStream]] = []
    offset = round(start_s * rate)
    for start in range(0, len(audio), 1024):
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(audio[start : start + 1024].reshape(1, -1)), format="flt", layout="mono"
        )
        frame.sample_rate = rate
        frame.time_base = Fraction(1, rate)
        frame.pts = offset + start
        packets.extend(stream.encode(frame))
    packets.extend(stream.encode(None))
    return packets


def _time(packet: av.Packet[Any], default: float = 0.0) -> float:
    """When a packet is decoded, in seconds (its dts, else its pts, else `default`)."""
    stamp = packet.dts if packet.dts is not None else packet.pts
    return float(stamp * packet.time_base) if stamp is not None and packet.time_base is not None else default
