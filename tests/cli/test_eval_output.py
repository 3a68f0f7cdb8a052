"""eval at 80 columns: tables with their titles on one line, progress naming every encoder and stage,
and an embedding map of the trained encoder beside its random initialisation."""

from PIL import Image

from tests.conftest import invoke


def test_eval_at_80_columns_names_its_encoders_and_stages(trained_run, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    result = invoke("eval", "--run", trained_run, "--data", trained_run.parent / "data")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines and max(len(line) for line in lines) <= 80
    assert any(
        line.strip().startswith("eval: simclr on natural (") and line.strip().endswith("classes)")
        for line in lines
    )
    for stage in ("train: pretrained, random init, raw", "test: pretrained, random init, raw",
                  "label curve: raw input", "t-SNE map: random init"):  # fmt: skip
        assert stage in result.stderr, stage
    width, height = Image.open(trained_run / "plots" / "embedding_map.png").size
    assert width > 1.6 * height  # two panels side by side
