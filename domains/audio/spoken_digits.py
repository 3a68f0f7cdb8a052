"""The audio domain's built-in sample: the spoken digits zero to nine, synthesised with espeak-ng.

Debian's ``espeak-ng`` (a formant synthesiser: no model weights, nothing downloaded) says each digit
in several English accents, voice variants, speeds and pitches. A voice is an accent with a variant;
``train/<digit>/`` and ``test/<digit>/`` hold different variants, so no test voice (no accent with
that variant) is heard in pretraining, and ``sslcli eval`` measures digit accuracy on new voices.
Written once into the cache folder (22.05 kHz 16-bit WAV, espeak-ng's output).
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sslcli.domains.base import DomainError
from sslcli.domains.sample_cache import materialise

SAMPLE_VERSION = "spoken-digits-v1"
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029")
TRAIN_VARIANTS = ("m1", "m2", "m3", "f1", "f2", "klatt")
TEST_VARIANTS = ("m5", "f3")
SPEEDS_WPM = (130, 165, 200)
PITCHES = (35, 65)  # espeak-ng's 0..99 scale, 50 its default
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
    """Run one espeak-ng command; None on success, else its one-line error."""
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = (done.stderr or "").strip().splitlines()
    if done.returncode != 0:
        return lines[-1] if lines else f"exit status {done.returncode}"
    return None
