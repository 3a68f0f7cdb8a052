"""Run a frozen encoder over items in batches; the one feature-extraction loop of embed and eval."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from sslcli.data.datasets import EvalDataset
from sslcli.data.loader import make_loader
from sslcli.data.skips import SkipLog
from sslcli.domains import Domain, Item
from sslcli.domains.base import only_input


class SideBySide(torch.nn.Module):
    """Runs several encoders on the same batch and concatenates their features: (B, ...) -> (B, sum F);
    the batch may be a dict of inputs (``feature_batches(..., whole_sample=True)``). ``split`` cuts
    the concatenation back into each encoder's features."""

    def __init__(self, encoders: dict[str, torch.nn.Module]):
        super().__init__()
        self.encoders = torch.nn.ModuleDict(encoders)
        self.widths: list[int] = []  # each encoder's F, known after the first batch

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        features = [encoder(batch) for encoder in self.encoders.values()]  # each (B, F_i)
        self.widths = [part.shape[1] for part in features]
        return torch.cat(features, dim=1)

    def split(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """(N, sum F) -> each encoder's (N, F_i), by name."""
        return dict(zip(self.encoders, features.split(self.widths, dim=1), strict=True))


class EveryInput(torch.nn.Module):
    """Each input's encoder on its own input, features concatenated: {name: (B, ...)} -> (B, sum F)."""

    def __init__(self, encoders: torch.nn.ModuleDict):
        super().__init__()
        self.encoders = encoders

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([encoder(inputs[name]) for name, encoder in self.encoders.items()], dim=1)


@torch.inference_mode()
def feature_batches(
    encoder: torch.nn.Module,
    domain: Domain,
    items: list[Item],
    input_size: int,
    batch_size: int,
    device: torch.device,
    skips: SkipLog,
    num_workers: int = 0,
    start: int = 0,
    input_name: str | None = None,
    whole_sample: bool = False,
) -> Iterator[tuple[list[int], torch.Tensor, int]]:
    """Yield ``(positions, features (b, F) float32 on CPU, items consumed)`` for ``items[start:]`` in order.

    Bad files go to ``skips`` (which raises in ``raise`` mode); ``positions`` index into ``items``.
    ``input_name`` picks the input the encoder takes where samples hold several (a clip and its sound);
    with ``whole_sample`` the encoder takes every input, as a dict by name.
    """
    inputs = None if input_name is None else (input_name,)  # decode only the input embedded
    dataset = EvalDataset(domain, items, domain.eval_views(input_size), inputs)
    order = list(range(start, len(items)))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    loader = make_loader(dataset, batches, num_workers, device.type == "cuda")
    encoder = encoder.to(device).eval()
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
    for keys, batch in zip(batches, loader, strict=True):
        skips.add(batch.skipped)
        if not batch.positions:
            yield [], torch.empty(0), len(keys)
            continue
        with autocast:
            view = batch.views[0]
            if whole_sample:
                inputs = {name: tensor.to(device, non_blocking=True) for name, tensor in view.items()}
            else:
                picked = only_input(view) if input_name is None else view[input_name]
                inputs = picked.to(device, non_blocking=True)
            features = encoder(inputs)  # (b, F)
        yield batch.positions, features.float().cpu(), len(keys)
