"""Resolve a pretraining config against its domain: data folder, recipe defaults, items, device."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from pydantic import ValidationError

from sslcli.config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_CPU_BUDGET_S,
    DEFAULT_EPOCHS,
    PretrainConfig,
    describe_errors,
)
from sslcli.data_root import data_root_problem, describe_data_root
from sslcli.distributed import current_world
from sslcli.domains import Domain, DomainError, InputSpec, Item
from sslcli.engine.domain_setup import configure_domain, lookup_method, with_method
from sslcli.engine.run_record import data_set_record
from sslcli.errors import UserError
from sslcli.methods import Method
from sslcli.methods.options import options_model, validate_options
from sslcli.models import build_encoder


@dataclass
class RunPlan:
    config: PretrainConfig  # every default filled in; ``data`` None: the built-in sample or a private root
    domain: Domain
    data_root: Path
    data_source: str  # "builtin", "folder", or "private folder" (a path that may identify patients)
    items: list[Item]
    data_set: dict  # what config.json records of the data (``run_record.data_set_record``)
    lr_scales_with_batch: bool = False  # the user gave no lr: it is scaled with the batch if that changes
    batch_chosen: bool = False  # the user gave the batch size (a recipe's may be split to fit memory)


def resolve_method_options(method: type[Method], options: dict) -> dict:
    """``options`` validated against ``method``'s typed options, every default filled in (so that
    ``config.json`` records what the run used); a bad one is a one-line error naming the field."""
    try:
        return validate_options(method, options)
    except ValidationError as err:
        valid = ", ".join(options_model(method).model_fields) or "none"
        raise UserError(
            f"method options of {method.name}: {describe_errors(err, 'method_options.')} (its options: "
            f"{valid}; see sslcli methods --show {method.name})"
        ) from None


def describe_root(domain: Domain, root: Path) -> str:
    """How messages name a data folder: its path, or only "--data" where paths may identify patients."""
    return describe_data_root(root, domain.identifying_paths)


def discover_items(domain: Domain, root: Path) -> list[Item]:
    """The domain's items under ``root``; a missing path or a folder without any is a user error."""
    where = describe_root(domain, root)
    problem = data_root_problem(root, where)
    if problem:
        raise UserError(problem)
    items = domain.discover(root)
    if not items:
        raise UserError(f"{where}: no {domain.name} files found (searched recursively)")
    return items


def builtin_sample(domain: Domain) -> tuple[Path, Path]:
    """(train, test) folders of ``domain``'s built-in sample; a one-line user error if it has none
    or it cannot be made (e.g. its generator is not installed)."""
    try:
        sample = domain.builtin_sample()
    except DomainError as err:
        raise UserError(str(err)) from None
    if sample is None:
        raise UserError(f"domain {domain.name!r} has no built-in sample; pass --data")
    return sample


def resolve_data_root(domain: Domain, data: str | None) -> tuple[Path, str]:
    """(root, source): ``--data`` or the domain's built-in sample (see ``RunPlan.data_source``)."""
    if data is None:
        return builtin_sample(domain)[0], "builtin"
    root = Path(data).expanduser().resolve()
    return root, "private folder" if domain.identifying_paths else "folder"


def recipe_lr(config: PretrainConfig, recipe: dict) -> float | None:
    """The recipe's lr, tuned for AdamW at the recipe's batch size, scaled linearly to the batch the run
    uses; None (the generic rule of ``resolved_lr``) for another optimizer or a recipe without one."""
    if "lr" not in recipe or config.optimizer != "adamw":
        return None
    recipe_batch = recipe.get("batch_size", DEFAULT_BATCH_SIZE)
    return recipe["lr"] * (config.batch_size or recipe_batch) / recipe_batch


def default_budget(config: PretrainConfig, recipe: dict, device_type: str) -> float | None:
    """On a CPU, a run the user gave no epochs trains for a time budget (the recipe's ``cpu_budget_s``,
    else ``DEFAULT_CPU_BUDGET_S``), so that a first run on a laptop ends in minutes whatever the
    folder holds; a recipe's epochs are for faster devices. Elsewhere None."""
    if device_type != "cpu" or config.epochs is not None:
        return None
    return recipe.get("cpu_budget_s", DEFAULT_CPU_BUDGET_S)


def plan_run(config: PretrainConfig, data: str | None, domain: Domain) -> RunPlan:
    """Pick the data (``data`` or the domain's built-in sample), fill recipe defaults, find the items.

    ``domain`` is the run's bound instance (``Domain.bind_run``), configured again with the resolved
    views, and its items found again when the recipe changed an option discovery depends on (a
    resumed run binds the saved, resolved views, so both train alike). The resolved config keeps the
    data path only for an ordinary folder: never for a private one.
    """
    config = with_method(config, domain)
    method_cls = lookup_method(config.method, domain)
    method_options = resolve_method_options(method_cls, config.method_options)
    root, source = resolve_data_root(domain, data)
    items = discover_items(domain, root)
    device_type = resolve_device(config.device).type
    recipe = domain.recipe(source == "builtin", items, device_type)
    views = {**recipe["views"], **config.views}
    found_under = domain.discovery_options()
    configure_domain(domain, views)  # the recipe's settings (frames a clip, stride) shape loading too
    if domain.discovery_options() != found_under:
        items = discover_items(domain, root)
    lr = config.lr or recipe_lr(config, recipe)
    resolved = config.updated(
        data=str(root) if source == "folder" else None,
        input_size=config.input_size or recipe["input_size"],
        backbone=config.backbone or method_cls.default_backbone or recipe["backbone"],
        views=views,
        epochs=config.epochs or recipe.get("epochs", DEFAULT_EPOCHS),  # provisional under a budget
        time_budget_s=config.time_budget_s or default_budget(config, recipe, device_type),
        batch_size=config.batch_size or recipe.get("batch_size", DEFAULT_BATCH_SIZE),
        lr=lr,
        method_options=method_options,
        threads=config.threads or torch.get_num_threads(),
    )
    resolved = resolved.updated(lr=resolved.resolved_lr(current_world().size))
    private = source == "private folder"  # recorded by a keyed fingerprint, never by its path
    fingerprint = domain.keyed_fingerprint(str(root)) if private else None
    data_set = data_set_record(source, items, fingerprint)
    lr_scales = config.lr is None  # the recipe's or the generic rule's: it follows the batch
    return RunPlan(resolved, domain, root, source, items, data_set, lr_scales, config.batch_size is not None)


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is available")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def input_spec(config: PretrainConfig, domain: Domain) -> InputSpec:
    """The one input of the run's domain (a run of several inputs builds one encoder per input)."""
    specs = domain.inputs(config.input_size)
    if len(specs) != 1:
        raise UserError(f"domain {config.domain!r} has inputs {', '.join(specs)}; this run needs one")
    return next(iter(specs.values()))


def backbone_names(backbone: str, inputs: list[str]) -> dict[str, str]:
    """The backbone of each input: ``backbone`` is one name for every input, or ``input=name`` pairs
    separated by commas (``video=resnet10,audio=spec_cnn``) naming each input once."""
    if "=" not in backbone:
        return dict.fromkeys(inputs, backbone)
    pairs = [part.split("=", 1) for part in backbone.split(",")]
    names = {pair[0].strip(): pair[-1].strip() for pair in pairs}
    if sorted(names) != sorted(inputs) or len(names) != len(pairs) or min(map(len, pairs)) != 2:
        raise UserError(
            f"backbone {backbone!r}: name each input once as input=backbone (inputs: {', '.join(inputs)})"
        )
    return names


def build_run_encoder(config: PretrainConfig, domain: Domain) -> tuple[torch.nn.Module, int | dict[str, int]]:
    """Randomly initialised encoder(s) for the run's inputs (channels and size from each InputSpec of
    the run's ``domain``): one backbone and its feature size, or for several inputs an
    ``nn.ModuleDict`` of backbones by input name and their feature sizes by input name."""
    specs = domain.inputs(config.input_size)
    names = backbone_names(config.backbone, list(specs))
    encoders, dims = {}, {}
    for input_name, spec in specs.items():
        try:
            encoders[input_name], dims[input_name] = build_encoder(names[input_name], spec)
        except (KeyError, ValueError) as err:
            where = f" of {input_name}" if len(specs) > 1 else ""
            raise UserError(f"backbone{where}: {err.args[0]}") from None
    if len(specs) == 1:
        return next(iter(encoders.values())), next(iter(dims.values()))
    return torch.nn.ModuleDict(encoders), dims


def engine_arguments(method: type[Method], config: PretrainConfig, domain: Domain) -> dict:
    """The input specs ``method``'s constructor asks for: ``spec`` (the one input's, e.g. to size a
    pixel decoder) and ``inputs`` (every input's by name, e.g. to tell a clip from its sound)."""
    wanted = inspect.signature(method.__init__).parameters
    given = {
        "spec": lambda: input_spec(config, domain),
        "inputs": lambda: domain.inputs(config.input_size),
    }
    return {name: spec() for name, spec in given.items() if name in wanted}


def build_method(
    config: PretrainConfig, domain: Domain, prepare: Callable[[torch.nn.Module], None] | None = None
) -> Method:
    """The configured method around freshly initialised backbone(s) (seeded by ``config.seed``) for
    the run's ``domain``; ``prepare`` sees the backbone(s) first, before the method copies them (e.g.
    into a momentum encoder), to load ``--init`` weights."""
    torch.manual_seed(config.seed)
    method_cls = lookup_method(config.method, domain)
    backbone, feature_dim = build_run_encoder(config, domain)
    if prepare is not None:
        prepare(backbone)
    options = {**config.method_options, **engine_arguments(method_cls, config, domain)}
    try:
        return method_cls(backbone, feature_dim, **options)
    except (TypeError, ValueError) as err:
        raise UserError(f"method options: {err}") from None
