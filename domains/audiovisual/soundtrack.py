"""Decoding a video's soundtrack with PyAV, by time, as ``domains.video.reading`` decodes its frames.

One seek to the packet before ``start_s``, then decoding forward until ``end_s``; FFmpeg's resampler
down-mixes to mono float at the stream's own rate, and torchaudio's band-limited resampler brings it
to the front end's rate. The samples are placed by the decoded frames' timestamps, so a soundtrack
that starts after the picture is padded with silence at its start and stays in sync.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import torch
import torchaudio.functional as AF
from sslcli.domains.discovery import BadItemError

NO_SOUNDTRACK = "no audio stream (the audiovisual domain needs the soundtrack)"


def read_soundtrack(path: Path, start_s: float, end_s: float | None, sample_rate: int) -> torch.Tensor:
    """Mono float32 waveform (S,) at ``sample_rate`` of ``[start_s, end_s)`` (None: to the end of the
    soundtrack); a ``BadItemError`` says why not."""
    try:
        waveform, rate = decode_soundtrack(path, start_s, end_s)
    except BadItemError:
        raise
    except Exception as err:  # FFmpeg rejects corrupt, truncated and unsupported files its own way
        lines = str(err).strip().splitlines()
        raise BadItemError(
            f"cannot decode the soundtrack ({lines[-1] if lines else type(err).__name__})"
        ) from None
    if waveform.size == 0:
        raise BadItemError("no audio samples" + (f" after {start_s:.2f} s" if start_s > 0 else ""))
    if not np.isfinite(waveform).all():
        raise BadItemError("non-finite audio samples")
    mono = torch.from_numpy(waveform)
    return mono if rate == sample_rate else AF.resample(mono, rate, sample_rate)


def decode_soundtrack(path: Path, start_s: float, end_s: float | None) -> tuple[np.ndarray, int]:
    """(samples (S,) float32 from ``start_s`` to ``end_s``, their rate)."""
    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise BadItemError(NO_SOUNDTRACK)
        stream = container.streams.audio[0]
        rate = stream.rate or stream.codec_context.sample_rate
        if start_s > 0:
            container.seek(round(start_s / stream.time_base), stream=stream, backward=True)
        to_mono = av.AudioResampler(format="flt", layout="mono", rate=rate)
        chunks: list[np.ndarray] = []
        first_s = None  # time of the first decoded sample
        for frame in container.decode(stream):
            if frame.time is None:
                continue
            first_s = frame.time if first_s is None else first_s
            chunks += [out.to_ndarray().reshape(-1) for out in to_mono.resample(frame)]
            if end_s is not None and first_s + sum(map(len, chunks)) / rate >= end_s:
                break
        chunks += [out.to_ndarray().reshape(-1) for out in to_mono.resample(None)]
    if first_s is None:
        return np.zeros(0, np.float32), rate
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    lead = round((first_s - start_s) * rate)  # > 0: the soundtrack starts after start_s
    samples = np.concatenate([np.zeros(lead, np.float32), samples]) if lead > 0 else samples[-lead:]
    return samples if end_s is None else samples[: round((end_s - start_s) * rate)], rate
