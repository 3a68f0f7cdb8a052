"""pretrain -> embed -> eval over pydicom's bundled test files: nothing identifying is written anywhere,
every decodable image is embedded, every other file is listed with its reason, raise mode is one line."""

from __future__ import annotations

import csv
import json
import re
import shutil
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pydicom
import pytest
from sslcli.domains.medical.privacy import SALT_FILE, item_hash
from sslcli.domains.medical.sample import materialise_dicom_sample

from sslcli.jobs.evaluate import EvalOptions, split_items
from sslcli.registry import DOMAINS
from sslcli.reporting import plots
from tests.conftest import invoke
from tests.domains.conftest import write_dicom

TINY = ["--epochs", "1", "--batch-size", "32", "--input-size", "16", "--num-workers", "0", "--device", "cpu"]
RUN_TINY = ["--num-workers", "0", "--device", "cpu"]

# Attributes that identify a patient, a visit, a site or an instance (HIPAA Safe Harbor and DICOM
# PS3.15 Annex E's basic profile).
IDENTIFYING = (
    "PatientName",
    "PatientID",
    "OtherPatientIDs",
    "PatientBirthDate",
    "PatientAddress",
    "StudyDate",
    "SeriesDate",
    "AcquisitionDate",
    "ContentDate",
    "InstanceCreationDate",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "FrameOfReferenceUID",
    "InstitutionName",
    "InstitutionAddress",
    "ReferringPhysicianName",
    "PerformingPhysicianName",
    "OperatorsName",
    "StudyDescription",
    "SeriesDescription",
    "AccessionNumber",
    "StationName",
    "DeviceSerialNumber",
    "ProtocolName",
    "ImageComments",
)


def distinctive(value: str) -> bool:
    """Long enough not to occur by chance in numbers or words sslcli prints (dates have 8 digits)."""
    value = value.strip()
    return len(value) >= 8 if value.isdigit() else len(value) >= 6


def identifying_values(root: Path) -> set[str]:
    """Every identifying attribute value, private text value and raw path of the files under ``root``."""
    values: set[str] = set()
    for path in (p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        values |= {rel, path.name, *rel.split("/")[:-1]}  # folder names may be patient names too
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(path, force=True, stop_before_pixels=True)
                for element in ds.iterall():
                    if element.keyword in IDENTIFYING or (
                        element.tag.is_private and element.VR in ("LO", "SH", "LT", "ST", "UT", "PN")
                    ):
                        values.add(str(element.value))
        except Exception:  # noqa: S112  (non-DICOM files only contribute their paths)
            continue
    values.discard("DICOMDIR")  # the name PS3.10 prescribes for every media index, not identifying
    return {value for value in values if distinctive(value)}


def decodable_frames(root: Path) -> tuple[int, list[str]]:
    """(frames pydicom itself decodes, relative paths of the other files): the independent reference."""
    frames, others = 0, []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pixels = pydicom.dcmread(path).pixel_array
                count = int(pydicom.dcmread(path, stop_before_pixels=True).get("NumberOfFrames", 1) or 1)
            frames += count if pixels.size else 0
        except Exception:  # noqa: S112
            others.append(path.relative_to(root).as_posix())
    return frames, others


PATIENT_ROOT = "DOE^JANE_19700101"  # a data root named after a patient, as archives often are
PATIENT_FOLDERS = ("SMITH^JOHN_19650304", "ROE^RICHARD_19801231")


def patient_folder_archive(root: Path) -> Path:
    """Sub-folders named after patients, each holding a few small synthetic CT files."""
    rng = np.random.default_rng(0)
    for name in PATIENT_FOLDERS:
        for i in range(15):  # a 20% split leaves 3 per class: enough for the map
            pixels = rng.integers(0, 2000, size=(16, 16)).astype(np.uint16)
            write_dicom(root / name / f"slice_{i}.dcm", pixels, PatientName=name)
    return root


@pytest.fixture(scope="module")
def medical_outputs(tmp_path_factory, dicom_test_files):
    """Pretrain, embed and eval (skip mode) over a copy of pydicom's test files; every command's output,
    and the labels that reached a picture."""
    base = tmp_path_factory.mktemp("medical")
    data, run, emb = base / PATIENT_ROOT, base / "run", base / "emb"
    shutil.copytree(dicom_test_files, data)
    archive = patient_folder_archive(base / "archive")
    (base / "config.toml").write_text('backbone = "resnet10"\n')  # the cheapest CPU backbone
    drawn: list[list[str]] = []
    texts: list[str] = []  # every title and legend text a picture receives
    original_plot, original_curves = plots.plot_embedding_map, plots.plot_label_efficiency

    def record_labels(panels, labels, title, out):
        drawn.append(list(labels))
        texts.append(f"{title} {' '.join(panels)}")
        original_plot(panels, labels, title, out)

    def record_curves(curves, title, out):
        texts.append(f"{title} {json.dumps(curves)}")
        original_curves(curves, title, out)

    with pytest.MonkeyPatch.context() as env:  # module scope runs before the per-test environment
        env.setenv("SSLCLI_CACHE", str(base / "cache"))
        env.setenv("NO_COLOR", "1")
        env.setenv("COLUMNS", "200")
        env.setattr(plots, "plot_embedding_map", record_labels)
        env.setattr(plots, "plot_label_efficiency", record_curves)
        results = run_all(data, run, emb)
        # already finished: --json prints the record of the embedding and of the run without new work
        results["embed json"] = invoke(
            "embed", "--run", run, "--data", data, "--out", emb, "--on-error", "skip", "--json", *RUN_TINY
        )
        results["pretrain json"] = invoke("pretrain", "--out", run, "--resume", "--data", data, "--json")
        results["export"] = invoke("export", "--run", run, "--format", "safetensors")  # into RUN/export/
        results["eval folders"] = invoke(
            "eval", "--run", run, "--data", archive, "--folder-labels", "--json", "--device", "cpu"
        )
    for name, result in results.items():
        assert result.exit_code == 0, (name, result.output)
    assert len(texts) == 4  # the map and the label-efficiency curve of each eval
    results["text drawn into pictures"] = SimpleNamespace(exit_code=0, output="\n".join(texts))
    return data, run, emb, results, drawn, archive


def run_all(data: Path, run: Path, emb: Path) -> dict:
    return {
        "pretrain": invoke(
            "pretrain",
            "--domain",
            "medical",
            "--data",
            data,
            "--out",
            run,
            "--on-error",
            "skip",
            "--check-data",
            "--config",
            data.parent / "config.toml",
            *TINY,
        ),
        "embed": invoke(
            "embed",
            "--domain",
            "medical",
            "--run",
            run,
            "--data",
            data,
            "--out",
            emb,
            "--on-error",
            "skip",
            *RUN_TINY,
        ),
        "eval": invoke(
            "eval",
            "--run",
            run,
            "--data",
            data,
            "--label-attr",
            "Modality",
            "--on-error",
            "skip",
            "--json",
            "--device",
            "cpu",
        ),
    }


def test_no_identifying_value_appears_in_any_output_byte(medical_outputs):
    data, run, emb, results, _, archive = medical_outputs
    secrets = identifying_values(data) | identifying_values(archive) | {PATIENT_ROOT, str(data)}
    assert len(secrets) > 100  # names, IDs, dates, UIDs, institutions, descriptions, paths
    outputs = {f"{name} output": result.output.encode() for name, result in results.items()}
    outputs |= {str(p): p.read_bytes() for folder in (run, emb) for p in folder.rglob("*") if p.is_file()}
    for where, content in outputs.items():
        # an ASCII value can only occur inside a run of printable ASCII: search those (fast on checkpoints)
        runs = b"\n".join(re.findall(rb"[\x20-\x7e]{6,}", content))
        plain = [value for value in secrets if value.isascii() and value.isprintable()]
        leaked = [value for value in plain if value.encode() in runs]
        leaked += [value for value in secrets - set(plain) if value.encode() in content]
        assert not leaked, (where, leaked[:5])


@pytest.fixture(scope="module")
def reference(dicom_test_files) -> tuple[int, list[str]]:
    return decodable_frames(dicom_test_files)


def test_every_decodable_image_is_embedded_and_every_other_file_named(medical_outputs, reference):
    data, run, emb, results, _, _ = medical_outputs
    frames, others = reference
    assert (
        f"{frames + len(others)} found, {frames} embedded, {len(others)} skipped" in results["embed"].output
    )
    assert np.load(emb / "embeddings.npy").shape[0] == frames
    salt = bytes.fromhex((run / SALT_FILE).read_text())
    with (emb / "skipped.csv").open() as handle:
        skipped = {row["item_id"]: row["reason"] for row in csv.DictReader(handle)}
    assert skipped.keys() == {item_hash(salt, rel) for rel in others}  # the owner maps ids back
    assert all(reason for reason in skipped.values())
    with (emb / "index.csv").open() as handle:
        index = list(csv.DictReader(handle))
    assert len(index) == frames and all(row["path"] == row["item_id"] for row in index)


def test_pretrain_scan_counts_add_up(medical_outputs, reference):
    data, run, _, results, _, _ = medical_outputs
    frames, others = reference
    assert f"{frames + len(others)} found, {frames} used, {len(others)} skipped" in results["pretrain"].output
    assert (run / SALT_FILE).stat().st_mode & 0o077 == 0


def test_json_records_name_no_private_path(medical_outputs):
    _, _, _, results, _, _ = medical_outputs
    pretrained = json.loads(results["pretrain json"].stdout)
    assert pretrained["data"] == {"source": "private folder", "path": None}
    embedded = json.loads(results["embed json"].stdout)
    assert embedded["already_done"] and embedded["rows"] == pretrained["items"]["used"]


def test_the_scanned_outputs_hold_the_export_and_the_event_files(medical_outputs):
    _, run, _, _, _, _ = medical_outputs
    assert json.loads((run / "export" / "encoder.safetensors.json").read_text())["domain"] == "medical"
    assert any((run / "tb").glob("events.out.tfevents.*"))


def test_eval_labels_by_modality(medical_outputs):
    _, _, _, results, _, _ = medical_outputs
    report = json.loads(results["eval"].stdout)
    assert report["domain"] == "medical" and report["classes"] >= 6
    assert 0 <= report["pretrained"]["knn"] <= 1 and report["n_test"] > 0


def test_raise_mode_stops_with_one_line_naming_no_file(medical_outputs, tmp_path):
    data, run, _, _, _, _ = medical_outputs
    result = invoke("embed", "--run", run, "--data", data, "--out", tmp_path / "e", *RUN_TINY)
    assert result.exit_code != 0 and "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and "DICOM item " in lines[0] and "--on-error skip" in lines[0]
    assert str(data) not in result.output


def test_embed_refuses_a_run_of_another_domain(medical_outputs, tmp_path):
    data, run, _, _, _, _ = medical_outputs
    result = invoke("embed", "--domain", "natural", "--run", run, "--data", data, "--out", tmp_path / "e")
    assert result.exit_code != 0 and "trained on domain 'medical'" in result.output


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom's notes on odd test files
def test_builtin_sample_holds_the_decodable_files_split_by_modality(dicom_test_files, reference):
    frames, others = reference
    train, test = materialise_dicom_sample()
    linked = {split: list(folder.rglob("*.dcm")) for split, folder in (("train", train), ("test", test))}
    sources = [p.resolve() for files in linked.values() for p in files]
    assert len(sources) == len(set(sources))  # train and test are disjoint
    assert {s.relative_to(dicom_test_files).as_posix() for s in sources}.isdisjoint(others)
    assert sum(int(pydicom.dcmread(s).get("NumberOfFrames", 1) or 1) for s in sources) == frames
    for link in linked["train"] + linked["test"]:
        assert link.parent.name == (pydicom.dcmread(link).get("Modality") or "unknown")
    assert len(linked["test"]) >= 10
    assert all(re.fullmatch("[0-9a-f]{16}", p.stem) for p in linked["train"] + linked["test"])  # no names


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom's notes on odd test files
def test_eval_of_the_builtin_sample_labels_it_by_modality_without_flags(dicom_test_files, tmp_path):
    train, test, roots = split_items(DOMAINS["medical"](), EvalOptions(run_dir=tmp_path))
    assert roots == list(materialise_dicom_sample()) and len(test) >= 10
    for item in train + test:
        assert item.label == (pydicom.dcmread(item.path).get("Modality") or "unknown")


def test_labels_that_reach_a_picture_pass_the_allow_list(medical_outputs):
    *_, drawn, archive = medical_outputs
    by_modality, by_folder = drawn  # eval --label-attr Modality, then eval --folder-labels
    assert {"CT", "MR"} <= set(by_modality)  # allow-listed attribute values are drawn as they are
    assert set(by_folder) == {"class 1", "class 2"}  # patient-named folders become opaque codes
    assert not {label for label in by_modality + by_folder if "^" in label}


def test_folder_names_are_not_labels_without_opt_in(medical_outputs):
    *_, archive = medical_outputs
    result = invoke("eval", "--run", medical_outputs[1], "--data", archive, "--device", "cpu")
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert result.exit_code != 0 and len(lines) == 1 and "--folder-labels" in lines[0]
    assert not any(name in result.output for name in (*PATIENT_FOLDERS, str(archive)))


def test_resume_needs_the_private_root_again_and_checks_its_fingerprint(medical_outputs, tmp_path):
    data, run, *_ = medical_outputs
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    record = json.loads((copy / "config.json").read_text())
    assert record["config"]["data"] is None and record["data_set"]["source"] == "private folder"
    missing = invoke("pretrain", "--out", copy, "--resume")
    assert missing.exit_code != 0 and "pass the same --data again" in missing.output
    other = shutil.copytree(data, tmp_path / "elsewhere")
    moved = invoke("pretrain", "--out", copy, "--resume", "--data", other)
    assert moved.exit_code != 0 and "fingerprint differs" in moved.output
    assert not any(text in moved.output + missing.output for text in (PATIENT_ROOT, str(data), str(other)))
    same = invoke("pretrain", "--out", copy, "--resume", "--data", data)
    assert same.exit_code == 0, same.output
    assert PATIENT_ROOT not in same.output and PATIENT_ROOT not in (copy / "config.json").read_text()
