"""Real recorded speech for the audio benchmarks, written as class folders of the original files.

- ``fillets_nl``: who speaks, in the Dutch voice-over of the game Fish Fillets NG (Debian's
  ``fillets-ng-data-nl``: 1616 Ogg Vorbis lines read by actors). The two heroes speak almost every
  line, the small fish (file names ``<level>-m-*``) and the big fish (``<level>-v-*``); the other
  voices are left out, and so are lines shorter than a second (a few are empty). The test split is
  whole levels (every fifth level in name order), so no line of a test level is heard in training.
  Never used for tuning: the held-out audio set.
  Needs ``sudo apt-get install fillets-ng-data-nl``.

    python benchmarks/audio_sets.py fillets_nl /tmp/sets/fillets_nl
"""

from __future__ import annotations

import shutil
from pathlib import Path

import soundfile
from set_writer import write_named_set

FILLETS_SOUND = Path("/usr/share/games/fillets-ng/sound")
SPEAKERS = {"m": "small_fish", "v": "big_fish"}
TEST_EVERY = 5  # every fifth level is a test level
MIN_SECONDS = 1.0


def fillets_nl(out: Path) -> None:
    levels = sorted(path.parent for path in FILLETS_SOUND.glob("*/nl"))
    if not levels:
        raise SystemExit(f"no Dutch voices under {FILLETS_SOUND}: sudo apt-get install fillets-ng-data-nl")
    for index, level in enumerate(levels):
        split = "test" if index % TEST_EVERY == TEST_EVERY - 1 else "train"
        for line in sorted((level / "nl").glob("*.ogg")):
            parts = line.stem.split("-")
            if len(parts) < 3 or parts[1] not in SPEAKERS or soundfile.info(line).duration < MIN_SECONDS:
                continue
            target = out / split / SPEAKERS[parts[1]] / f"{level.name}-{line.name}"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(line, target)


SETS = {"fillets_nl": fillets_nl}


if __name__ == "__main__":
    write_named_set(SETS, __doc__.splitlines()[0])
