"""Real recorded speech for the audio benchmarks, written as class folders of the original files.

- ``fillets_nl``: who speaks, in the Dutch voice-over of the game Fish Fillets NG (Debian's
  ``fillets-ng-data-nl``: 1616 Ogg Vorbis lines read by actors). The two heroes speak almost every
  line, the small fish (file names ``<level>-m-*``) and the big fish (``<level>-v-*``); the other
  voices are left out, and so are lines shorter than a second (a few are empty). The test split is
  whole levels (every fifth level in name order), so no line of a test level is heard in training.
  Never used for tuning: the held-out audio set.
  Needs ``sudo apt-get install fillets-ng-data-nl``.
- ``fillets_voices``: the same lines in the Dutch and the Czech voice-overs (``fillets-ng-data-cs``),
  four voices (``nl_small_fish``, ``nl_big_fish``, ``cs_small_fish``, ``cs_big_fish``), split by level
  as above; a few Czech lines hold a second of digital silence, which the audio domain refuses as a
  bad item, and are left out. Two voices are nearly separable by any features (a linear probe on
  the raw log-mels scores 0.988 on ``fillets_nl``); four leave room to tell encoders apart. Held out
  like ``fillets_nl``. Needs ``sudo apt-get install fillets-ng-data-nl fillets-ng-data-cs``.

- ``klettres_languages``: which language a spoken letter or syllable is in, from the recordings of
  the letter-learning game KLettres (Debian's ``klettres-data``): 18 languages with at least
  ``MIN_LINES`` recordings, each read by its own speaker on their own microphone, at most
  ``MAX_LINES`` a language (spread over its files in name order), every fifth in name order a test
  recording. Most last 1-2 s, one item each. Short utterances of 18 voices leave room above the raw
  log-mels, which the fish voices did not. Never used for tuning: a held-out audio set.
  Needs ``sudo apt-get install klettres-data``.

    python benchmarks/audio_sets.py fillets_nl /tmp/sets/fillets_nl
    python benchmarks/audio_sets.py fillets_voices /tmp/sets/fillets_voices
    python benchmarks/audio_sets.py klettres_languages /tmp/sets/klettres_languages
"""

from __future__ import annotations

import shutil
from pathlib import Path

from set_writer import write_named_set
from sslcli.domains.audio.domain import AudioDomain, segments
from sslcli.domains.audio.reading import duration_s
from sslcli.domains.discovery import BadItemError, Entry

FILLETS_SOUND = Path("/usr/share/games/fillets-ng/sound")
SPEAKERS = {"m": "small_fish", "v": "big_fish"}
TEST_EVERY = 5  # every fifth level is a test level
MIN_SECONDS = 1.0


def usable(line: Path, min_seconds: float = MIN_SECONDS) -> bool:
    """Whether ``line`` lasts ``min_seconds`` and the audio domain accepts every item it cuts it into
    (its own segments, reader and front end: a stretch of digital silence is a bad item)."""
    duration = duration_s(line)
    if duration is None or duration < min_seconds:
        return False
    domain = AudioDomain()
    try:
        for item in segments(Entry(line, line.name), domain.options.segment_s):
            domain.log_mel(item)
    except BadItemError:
        return False
    return True


LANGUAGE_PACKAGES = {"nl": "fillets-ng-data-nl", "cs": "fillets-ng-data-cs"}


def heroes_lines(out: Path, languages: dict[str, str]) -> None:
    """The heroes' lines of at least ``MIN_SECONDS`` in each voice-over ``language``, as
    ``out/<split>/<languages[language]><hero>/<level>-<line>.ogg``; levels split by ``TEST_EVERY``."""
    levels = sorted(path for path in FILLETS_SOUND.iterdir() if path.is_dir())
    for language in languages:
        if not any((level / language).is_dir() for level in levels):
            package = LANGUAGE_PACKAGES[language]
            raise SystemExit(f"no '{language}' voices under {FILLETS_SOUND}: sudo apt-get install {package}")
    for index, level in enumerate(levels):
        split = "test" if index % TEST_EVERY == TEST_EVERY - 1 else "train"
        for language, prefix in languages.items():
            for line in sorted((level / language).glob("*.ogg")):
                parts = line.stem.split("-")
                if len(parts) < 3 or parts[1] not in SPEAKERS or not usable(line):
                    continue
                target = out / split / f"{prefix}{SPEAKERS[parts[1]]}" / f"{level.name}-{line.name}"
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(line, target)


def fillets_nl(out: Path) -> None:
    heroes_lines(out, {"nl": ""})


def fillets_voices(out: Path) -> None:
    heroes_lines(out, {"nl": "nl_", "cs": "cs_"})


KLETTRES_SOUND = Path("/usr/share/klettres")
MIN_LINES, MAX_LINES = 40, 100


def klettres_languages(out: Path) -> None:
    """``out/<split>/<language>/<kind>-<file>``: KLettres' letters (``alpha``) and syllables."""
    languages = sorted(path for path in KLETTRES_SOUND.glob("*") if path.is_dir())
    recorded = {lang.name: sorted(lang.glob("*/*.ogg")) for lang in languages}
    recorded = {lang: lines for lang, lines in recorded.items() if len(lines) >= MIN_LINES}
    if not recorded:
        raise SystemExit(f"no recordings under {KLETTRES_SOUND}: sudo apt-get install klettres-data")
    for language, lines in recorded.items():
        count = min(len(lines), MAX_LINES)  # evenly spread over the files when there are more
        spread = [lines[index * len(lines) // count] for index in range(count)]
        kept = [line for line in spread if usable(line, min_seconds=0.0)]
        for index, line in enumerate(kept):
            split = "test" if index % TEST_EVERY == TEST_EVERY - 1 else "train"
            target = out / split / language / f"{line.parent.name}-{line.name}"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(line, target)


SETS = {
    "fillets_nl": fillets_nl,
    "fillets_voices": fillets_voices,
    "klettres_languages": klettres_languages,
}


if __name__ == "__main__":
    write_named_set(SETS, __doc__.splitlines()[0])
