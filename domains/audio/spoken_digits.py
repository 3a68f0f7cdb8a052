"""The audio domain's built-in sample: the spoken digits zero to nine, synthesised with espeak-ng.

Debian's ``espeak-ng`` (a formant synthesiser: no model weights, nothing downloaded) says each digit
in several English accents, voice variants, speeds and pitches. A voice is an accent with a variant;
``train/<digit>/`` and ``test/<digit>/`` hold different variants, so no test voice (no accent with
that variant) is heard in pretraining, and ``sslcli eval`` measures digit accuracy on new voices.

espeak-ng says a word the same way every time, so its clean output is nearly a template: the kNN
of the raw log-mels solves it. Each clip is therefore recorded the way keyword data sets are (Warden,
"Speech Commands", 2018): the word at a random place in a one-second window, over background noise
of a random colour (white to brown) at a random signal-to-noise ratio, at a random level. The
draws are seeded by the file's name, so they are the same on every machine. Written once into
the cache folder (22.05 kHz 16-bit WAV, espeak-ng's rate).
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile
from sslcli.domains.base import DomainError
from sslcli.domains.sample_cache import materialise

SAMPLE_VERSION = "spoken-digits-v2"
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029")
TRAIN_VARIANTS = ("m1", "m2", "m3", "f1", "f2", "klatt")
TEST_VARIANTS = ("m5", "f3")
SPEEDS_WPM = (130, 165, 200)
PITCHES = (35, 65)  # espeak-ng's 0..99 scale, 50 its default
WINDOW_S = 1.0  # Speech Commands' clip length; a longer word keeps its length
SNR_DB = (5.0, 25.0)
NOISE_SLOPE = (0.0, 2.0)  # noise power ~ 1 / f^slope: 0 white, 1 pink, 2 brown
PEAK_DBFS = (-20.0, -1.0)
INSTALL_HINT = (
    "the audio domain's built-in sample is synthesised with espeak-ng, which is not installed "
    "(Debian/Ubuntu: sudo apt-get install espeak-ng; macOS: brew install espeak-ng); or pass --data"
)


def materialise_spoken_digits() -> tuple[Path, Path]:
    """(train, test) folders of the sample, synthesised on first use (about 15 s on 2 cores)."""
    return materialise(SAMPLE_VERSION, write_spoken_digits)


def write_spoken_digits(staging: Path) -> None:
    program = shutil.which("espeak-ng")
    if program is None:
        raise DomainError(INSTALL_HINT)
    jobs = []
    for split, variants in (("train", TRAIN_VARIANTS), ("test", TEST_VARIANTS)):
        for label, word in enumerate(DIGITS):
            (staging / split / str(label)).mkdir(parents=True)
            for accent, variant, speed, pitch in itertools.product(ACCENTS, variants, SPEEDS_WPM, PITCHES):
                name = f"{accent}+{variant}_s{speed}_p{pitch}.wav"
                voice = ["-v", f"{accent}+{variant}", "-s", str(speed), "-p", str(pitch)]
                jobs.append([program, *voice, "-w", str(staging / split / str(label) / name), word])
    with ThreadPoolExecutor(max_workers=4) as pool:  # each job is a short-lived espeak-ng process
        for problem in pool.map(synthesise, jobs):
            if problem:
                raise DomainError(f"espeak-ng failed to synthesise the built-in sample: {problem}")


def synthesise(command: list[str]) -> str | None:
    """Run one espeak-ng command, then record its output in a noisy window; None on success, else
    its one-line error."""
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = (done.stderr or "").strip().splitlines()
    if done.returncode != 0:
        return lines[-1] if lines else f"exit status {done.returncode}"
    path = Path(command[command.index("-w") + 1])
    speech, rate = soundfile.read(path, dtype="float64")
    rng = np.random.default_rng(
        zlib.crc32(f"{path.parent.parent.name}/{path.parent.name}/{path.name}".encode())
    )
    soundfile.write(path, record(speech, rate, rng), rate, subtype="PCM_16")
    return None


def record(speech: np.ndarray, rate: int, rng: np.random.Generator) -> np.ndarray:
    """(S,) clean speech -> (max(S, WINDOW_S * rate),) the speech at a random offset over noise."""
    length = max(len(speech), round(WINDOW_S * rate))
    start = int(rng.integers(0, length - len(speech) + 1))
    clip = np.zeros(length)
    clip[start : start + len(speech)] = speech
    noise = coloured_noise(length, rng.uniform(*NOISE_SLOPE), rng)
    snr_db = rng.uniform(*SNR_DB)
    clip += noise * np.sqrt(np.mean(speech**2) / np.mean(noise**2) / 10 ** (snr_db / 10))
    return clip * 10 ** (rng.uniform(*PEAK_DBFS) / 20) / np.abs(clip).max()


def coloured_noise(length: int, slope: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise whose power spectrum falls as 1 / f^slope (shaped in the frequency domain)."""
    spectrum = np.fft.rfft(rng.standard_normal(length))
    frequencies = np.arange(1, len(spectrum) + 1)  # bin 0 scaled like bin 1: no DC blow-up
    return np.fft.irfft(spectrum / frequencies ** (slope / 2), n=length)
