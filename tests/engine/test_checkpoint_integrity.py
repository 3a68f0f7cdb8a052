"""A training checkpoint is checked completely before use; every defect is one line naming the file.

The checkpoint is a real one (a tiny pretraining through the CLI); each test damages a copy. The
references are independent of sslcli: the zip layout (APPNOTE local file header) to find a tensor's
bytes, ``torch.load`` to read back what was saved.
"""

import shutil
import struct
import zipfile

import pytest
import torch

from sslcli.config import load_run_config
from sslcli.engine.checkpoint import apply_rng_state, load_checkpoint, restore_training_state
from sslcli.engine.domain_setup import configured_domain
from sslcli.engine.setup import build_method
from sslcli.engine.state_checks import state_dict_mismatch
from sslcli.engine.train_state import TrainState
from sslcli.errors import UserError
from sslcli.run_dir import CHECKPOINT
from tests.conftest import FAST_PRETRAIN, invoke, write_digit_folder


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A finished tiny run (read-only: tests damage copies of its checkpoint)."""
    base = tmp_path_factory.mktemp("checkpoint_run")
    data = write_digit_folder(base / "data")
    run = base / "run"
    result = invoke("pretrain", "--data", data, "--out", run, *FAST_PRETRAIN)
    assert result.exit_code == 0, result.output
    return run


@pytest.fixture
def checkpoint(pretrained, tmp_path):
    path = tmp_path / "last.pt"
    shutil.copyfile(pretrained / CHECKPOINT, path)
    return path


@pytest.fixture
def target(pretrained):
    """The run's method and optimizer, freshly built as a resuming trainer builds them."""
    config = load_run_config(pretrained)
    assert config.optimizer == "adamw"
    method = build_method(config, configured_domain(config.domain, config.views))
    optimizer = torch.optim.AdamW([p for p in method.parameters() if p.requires_grad], lr=config.lr)
    return method, optimizer


def rewrite(path, change):
    """Replace the checkpoint by ``change(saved)`` (or ``saved`` changed in place)."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    result = change(saved)
    torch.save(saved if result is None else result, path)


def flip_byte_in_member(path, member: str) -> None:
    """Flip one bit in the middle of ``member``'s stored bytes (found from the zip headers)."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    assert info.compress_type == zipfile.ZIP_STORED and info.file_size > 16
    raw = bytearray(path.read_bytes())
    offset = info.header_offset
    assert raw[offset : offset + 4] == b"PK\x03\x04"
    name_len, extra_len = struct.unpack("<HH", raw[offset + 26 : offset + 30])
    raw[offset + 30 + name_len + extra_len + info.file_size // 2] ^= 0x40
    path.write_bytes(bytes(raw))


def largest_tensor_member(path) -> str:
    with zipfile.ZipFile(path) as archive:
        members = [i for i in archive.infolist() if "/data/" in i.filename]
    return max(members, key=lambda i: i.file_size).filename


def all_tensors(saved) -> list:
    moments = [t for entry in saved["optimizer"]["state"].values() for t in entry.values()]
    return [*saved["method"].values(), *moments]


def assert_one_line(err: UserError, path, *fragments) -> None:
    message = str(err)
    assert message.startswith(f"{path}: "), message
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def snapshot(method) -> dict:
    return {name: t.clone() for name, t in method.state_dict().items()}


def assert_unchanged(method, before) -> None:
    after = method.state_dict()
    assert all(torch.equal(after[name], t) for name, t in before.items())


# --- an intact checkpoint ------------------------------------------------------------------------
def test_intact_checkpoint_restores_weights_optimizer_state_and_rng(checkpoint, target):
    method, optimizer = target
    reference = torch.load(checkpoint, map_location="cpu", weights_only=True)
    state, rng = restore_training_state(checkpoint, method, optimizer, TrainState)

    assert state == TrainState(**reference["train_state"]) and state.step > 0
    assert all(torch.equal(t, reference["method"][name]) for name, t in method.state_dict().items())
    restored = optimizer.state_dict()["state"]
    assert restored.keys() == reference["optimizer"]["state"].keys()
    for index, entry in reference["optimizer"]["state"].items():
        assert all(torch.equal(restored[index][key], value) for key, value in entry.items())
    before = torch.get_rng_state()
    try:
        apply_rng_state(checkpoint, rng, torch.device("cpu"))
        assert torch.equal(torch.get_rng_state(), reference["rng_cpu"])
    finally:
        torch.set_rng_state(before)


def test_a_checkpoint_of_an_earlier_version_resumes_with_the_later_fields_defaults(checkpoint, target):
    def earlier(saved):
        for name in TrainState.LATER_FIELDS:
            del saved["train_state"][name]

    rewrite(checkpoint, earlier)
    state, _ = restore_training_state(checkpoint, *target, TrainState)
    assert state.step > 0 and (state.selected_epoch, state.scored_items) == (0, TrainState().scored_items)


# --- damaged files -------------------------------------------------------------------------------
def test_a_flipped_byte_in_a_tensor_is_caught_by_the_zip_crc(checkpoint, target):
    method, optimizer = target
    member = largest_tensor_member(checkpoint)
    original = torch.load(checkpoint, map_location="cpu", weights_only=True)
    flip_byte_in_member(checkpoint, member)
    damaged = torch.load(checkpoint, map_location="cpu", weights_only=True)  # loads silently...
    pairs = zip(all_tensors(original), all_tensors(damaged), strict=True)
    assert not all(torch.equal(a, b) for a, b in pairs)  # ...with a wrong value somewhere

    before = snapshot(method)
    with pytest.raises(UserError) as err:
        restore_training_state(checkpoint, method, optimizer, TrainState)
    assert_one_line(err.value, checkpoint, "damaged checkpoint", "CRC", member)
    assert_unchanged(method, before)
    with pytest.raises(UserError, match="CRC"):
        load_checkpoint(checkpoint)  # what PreparedRun.restore reads today


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(lambda raw: raw[: len(raw) // 2], id="truncated"),
        pytest.param(lambda raw: raw[:-100], id="end-cut-off"),
        pytest.param(lambda raw: b"garbage", id="garbage"),
        pytest.param(lambda raw: b"", id="empty"),
        pytest.param(lambda raw: b"PK\x03\x04" + bytes(range(256)) * 8, id="zip-magic-then-noise"),
    ],
)
def test_unreadable_files_are_one_line_errors(checkpoint, target, content):
    checkpoint.write_bytes(content(checkpoint.read_bytes()))
    with pytest.raises(UserError) as err:
        restore_training_state(checkpoint, *target, TrainState)
    assert_one_line(err.value, checkpoint, "unreadable checkpoint")


def test_a_missing_file_is_a_one_line_error(tmp_path, target):
    with pytest.raises(UserError) as err:
        restore_training_state(tmp_path / "nope.pt", *target, TrainState)
    assert_one_line(err.value, tmp_path / "nope.pt", "unreadable checkpoint")


# --- files that load but hold the wrong thing ----------------------------------------------------
def first_matrix(weights) -> str:
    return next(name for name, t in weights.items() if t.dim() >= 2)


def missing_weight(saved):
    name = next(iter(saved["method"]))
    del saved["method"][name]
    return ["does not fit", "missing", name]


def many_missing_weights(saved):
    names = list(saved["method"])[:5]
    for name in names:
        del saved["method"][name]
    return ["missing", *names[:3], "and 2 more"]


def extra_weight(saved):
    saved["method"]["surprise.weight"] = torch.zeros(2)
    return ["does not fit", "unexpected surprise.weight"]


def wrong_shape(saved):
    name = first_matrix(saved["method"])
    shape = tuple(saved["method"][name].shape)
    saved["method"][name] = torch.zeros(*shape[:-1], shape[-1] + 1)
    return ["shape mismatch", name, str((*shape[:-1], shape[-1] + 1)), str(shape)]


def weight_not_a_tensor(saved):
    name = next(iter(saved["method"]))
    saved["method"][name] = [1.0, 2.0]
    return ["not tensors", name]


def top_level_list(saved):
    return [saved["method"], saved["optimizer"]], ["not a training checkpoint", "list"]


def method_not_a_dict(saved):
    saved["method"] = list(saved["method"].values())
    return ["'method' is a list"]


def missing_top_level_key(saved):
    del saved["optimizer"]
    return ["missing optimizer"]


def extra_top_level_key(saved):
    saved["ema"] = {}
    return ["unexpected ema"]


def optimizer_moment_of_wrong_shape(saved):
    index, entry = next(iter(saved["optimizer"]["state"].items()))
    shape = tuple(entry["exp_avg"].shape)
    entry["exp_avg"] = torch.zeros(3)
    return ["bad optimizer state", "exp_avg", "(3,)", str(shape)]


def optimizer_group_of_other_size(saved):
    saved["optimizer"]["param_groups"][0]["params"].pop()
    return ["bad optimizer state", "parameter groups"]


def optimizer_not_a_dict(saved):
    saved["optimizer"] = [1, 2]
    return ["bad optimizer state"]


def train_state_field_missing(saved):
    del saved["train_state"]["items_seen"]
    return ["bad train_state", "missing items_seen"]


def train_state_field_extra(saved):
    saved["train_state"]["lr"] = 0.1
    return ["bad train_state", "unexpected lr"]


def train_state_step_a_string(saved):
    saved["train_state"]["step"] = "4"
    return ["bad train_state", "step is '4'"]


def train_state_step_negative(saved):
    saved["train_state"]["epoch"] = -1
    return ["bad train_state", "epoch is -1"]


def train_state_not_a_dict(saved):
    saved["train_state"] = [4, 1, 0]
    return ["'train_state' is a list"]


def rng_cut_short(saved):
    saved["rng_cpu"] = saved["rng_cpu"][:100]
    return ["bad RNG state", "rng_cpu", "(100,)"]


def rng_of_wrong_dtype(saved):
    saved["rng_cpu"] = saved["rng_cpu"].float()
    return ["bad RNG state", "rng_cpu", "torch.float32"]


def cuda_rng_not_a_tensor(saved):
    saved["rng_cuda"] = "seed"
    return ["bad RNG state", "rng_cuda", "str"]


DEFECTS = [
    missing_weight,
    many_missing_weights,
    extra_weight,
    wrong_shape,
    weight_not_a_tensor,
    top_level_list,
    method_not_a_dict,
    missing_top_level_key,
    extra_top_level_key,
    optimizer_moment_of_wrong_shape,
    optimizer_group_of_other_size,
    optimizer_not_a_dict,
    train_state_field_missing,
    train_state_field_extra,
    train_state_step_a_string,
    train_state_step_negative,
    train_state_not_a_dict,
    rng_cut_short,
    rng_of_wrong_dtype,
    cuda_rng_not_a_tensor,
]


@pytest.mark.parametrize("defect", DEFECTS, ids=[d.__name__ for d in DEFECTS])
def test_wrong_contents_are_refused_before_anything_is_loaded(checkpoint, target, defect):
    method, optimizer = target
    fragments = []

    def change(saved):
        out = defect(saved)
        if isinstance(out, tuple):
            replacement, found = out
            fragments.extend(found)
            return replacement
        fragments.extend(out)
        return None

    rewrite(checkpoint, change)
    before = snapshot(method)
    with pytest.raises(UserError) as err:
        restore_training_state(checkpoint, method, optimizer, TrainState)
    assert_one_line(err.value, checkpoint, *fragments)
    assert_unchanged(method, before)
    assert optimizer.state_dict()["state"] == {}


def test_mismatch_lists_the_first_few_then_a_count():
    expected = {f"w{i}": torch.zeros(2) for i in range(6)}
    assert state_dict_mismatch(dict(expected), expected) is None
    assert state_dict_mismatch({}, expected) == "missing w0, w1, w2 and 3 more"
    saved = {**expected, "w1": torch.zeros(2, 3), "extra": torch.zeros(1)}
    assert state_dict_mismatch(saved, expected) == (
        "unexpected extra; shape mismatch: w1 (2, 3) in the file vs (2,) in the model"
    )


# --- through the CLI -----------------------------------------------------------------------------
def test_resume_refuses_a_checkpoint_with_a_flipped_byte(digit_folder, tmp_path):
    run = tmp_path / "run"
    assert invoke("pretrain", "--data", digit_folder, "--out", run, *FAST_PRETRAIN).exit_code == 0
    checkpoint = run / CHECKPOINT
    flip_byte_in_member(checkpoint, largest_tensor_member(checkpoint))
    result = invoke("pretrain", "--out", run, "--resume")
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    assert "CRC" in errors[0] and "last.pt" in errors[0], errors[0]
