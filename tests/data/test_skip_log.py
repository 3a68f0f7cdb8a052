"""``skipped.csv`` names files as the terminal does: control characters escaped, so showing the file
cannot move the cursor, clear the screen or split a row; read back, it still lists the raw ids."""

from __future__ import annotations

from sslcli.domains import Item

from sslcli.data.skips import SkipLog, Skipped

NAME = "0/a\nb\x1b[2J.png"


def test_skipped_csv_escapes_names_and_reasons_and_knows_the_raw_ids_read_back(tmp_path):
    log = SkipLog("skip", tmp_path)
    log.add([Skipped(NAME, "UnidentifiedImageError: cannot identify '\x1b[31m'")])
    log.write(tmp_path / "skipped.csv")
    text = (tmp_path / "skipped.csv").read_text()
    assert "\x1b" not in text and "0/a\\nb\\x1b[2J.png" in text and "'\\x1b[31m'" in text
    again = SkipLog("skip", tmp_path)
    again.read(tmp_path / "skipped.csv")
    listed, other = (Item(name, tmp_path / name, name) for name in (NAME, "0/b.png"))
    assert again.kept([listed, other]) == [other]  # the items listed are dropped by their raw ids
    again.add([Skipped(NAME, "met again")])
    assert len(again.records) == 1
