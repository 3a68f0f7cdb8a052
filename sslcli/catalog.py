"""The methods and domains as static data, so ``sslcli methods``, ``sslcli domains`` and the CLI's
early checks of ``--method`` and ``--domain`` answer without importing torch (seconds on a laptop).

The registries (``sslcli.methods``, ``sslcli.domains``) stay the source of truth: tests/test_catalog.py
rebuilds this table from them and fails, naming the entry, when a method or domain changes without it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MethodEntry:
    accepts: str  # the input kinds it trains on, e.g. "image2d, spectrogram"
    paper: str
    domains: tuple[str, ...]  # the domains whose samples the method accepts, sorted
    description: str  # "<kind>: <what it learns from>"

    @property
    def kind(self) -> str:
        return self.description.split(":", 1)[0]


@dataclass(frozen=True)
class DomainEntry:
    inputs: str  # the kinds of its samples' inputs, e.g. "clip, spectrogram"
    input: str  # the default input size with its unit
    identifying_paths: bool  # file and folder names may identify people: never echo a data path
    description: str


METHODS = {
    "avid": MethodEntry(
        "clip, spectrogram, 2 inputs per sample",
        "Morgado et al., CVPR 2021",
        ("audiovisual",),
        "audio-visual: a clip matches its own soundtrack, cross-modal InfoNCE both ways",
    ),
    "barlow_twins": MethodEntry(
        "image2d, spectrogram",
        "Zbontar et al., ICML 2021",
        ("audio", "medical", "natural"),
        "redundancy reduction: cross-correlation of two views' embeddings -> identity",
    ),
    "byol": MethodEntry(
        "image2d, spectrogram, clip",
        "Grill et al., NeurIPS 2020",
        ("audio", "medical", "natural", "video"),
        "siamese: EMA target network (cosine decay schedule), predictor, no negatives",
    ),
    "clip_order": MethodEntry(
        "clip",
        "Xu et al., CVPR 2019",
        ("video",),
        "pretext: predict the order of shuffled sub-clips of a clip (VCOP; frame order)",
    ),
    "colorization": MethodEntry(
        "image2d in colour",
        "Zhang et al., ECCV 2016",
        ("natural",),
        "pretext: predict the ab colour channels from the L channel (CIE Lab)",
    ),
    "cpc": MethodEntry(
        "spectrogram",
        "van den Oord et al., arXiv 2018",
        ("audio",),
        "predictive coding: GRU context predicts the latents k steps ahead, InfoNCE",
    ),
    "deepcluster": MethodEntry(
        "image2d",
        "Caron et al., ECCV 2018",
        ("medical", "natural"),
        "clustering: k-means pseudo-labels each epoch, classification, uniform cluster sampling",
    ),
    "denoising": MethodEntry(
        "image2d",
        "Vincent et al., ICML 2008",
        ("medical", "natural"),
        "pretext: reconstruct the clean image from a noise-corrupted copy",
    ),
    "dino": MethodEntry(
        "image2d",
        "Caron et al., ICCV 2021",
        ("medical", "natural"),
        "self-distillation: EMA teacher, multi-crop, centring + sharpening, no labels",
    ),
    "inpainting": MethodEntry(
        "image2d",
        "Pathak et al., CVPR 2016",
        ("medical", "natural"),
        "pretext: context encoder paints the blanked centre of the image (L2 on the hole)",
    ),
    "jigsaw": MethodEntry(
        "image2d",
        "Noroozi & Favaro, ECCV 2016",
        ("medical", "natural"),
        "pretext: recognise which permutation shuffled the 3x3 tiles of an image",
    ),
    "mae": MethodEntry(
        "image2d, spectrogram",
        "He et al., CVPR 2022",
        ("audio", "medical", "natural"),
        "masked: ViT encoder on visible patches, light decoder reconstructs hidden pixels",
    ),
    "moco_v2": MethodEntry(
        "image2d, spectrogram",
        "Chen et al., arXiv 2020 (MoCo: He et al., CVPR 2020)",
        ("audio", "medical", "natural"),
        "contrastive: momentum key encoder, queue of negatives, MLP head",
    ),
    "relative_patch": MethodEntry(
        "image2d",
        "Doersch et al., ICCV 2015",
        ("medical", "natural"),
        "pretext: predict where a neighbouring tile lies relative to the centre tile (8-way)",
    ),
    "rotnet": MethodEntry(
        "image2d",
        "Gidaris et al., ICLR 2018",
        ("medical", "natural"),
        "pretext: classify the 4-way rotation (0/90/180/270 degrees) of each image",
    ),
    "simclr": MethodEntry(
        "image2d, spectrogram, clip",
        "Chen et al., ICML 2020",
        ("audio", "medical", "natural", "video"),
        "contrastive: two views, projection head, NT-Xent over the batch",
    ),
    "simsiam": MethodEntry(
        "image2d",
        "Chen & He, CVPR 2021",
        ("medical", "natural"),
        "siamese: predictor + stop-gradient, no negatives, no momentum encoder",
    ),
    "super_resolution": MethodEntry(
        "image2d",
        "Dong et al., TPAMI 2016 (SRCNN)",
        ("medical", "natural"),
        "pretext: restore the full-resolution image from a downsampled-then-upsampled copy",
    ),
    "vicreg": MethodEntry(
        "image2d, spectrogram",
        "Bardes et al., ICLR 2022",
        ("audio", "medical", "natural"),
        "regularised siamese: invariance + variance hinge + covariance decorrelation",
    ),
    "videomae": MethodEntry(
        "clip",
        "Tong et al., NeurIPS 2022",
        ("video",),
        "masked video: ViT on the visible tubelets of tube-masked clips, decoder rebuilds the rest",
    ),
}
DOMAINS = {
    "audio": DomainEntry(
        "spectrogram",
        "96 frames",
        False,
        "recordings (wav, flac, ogg, mp3) as log-mel spectrograms, 16 kHz mono",
    ),
    "audiovisual": DomainEntry(
        "clip, spectrogram",
        "112 px, 8 frames + log-mel",
        False,
        "videos with sound: a clip and the log-mel of the same seconds, one encoder each",
    ),
    "medical": DomainEntry(
        "image2d",
        "224 px",
        True,
        "DICOM (CT, MR, CR, US, NM, ...; JPEG, JPEG-LS, JPEG 2000, RLE; multi-frame), hashed ids",
    ),
    "natural": DomainEntry(
        "image2d",
        "224 px",
        False,
        "photos and other RGB/grayscale images (jpg, png, bmp, tiff, webp; 8/16-bit)",
    ),
    "video": DomainEntry(
        "clip",
        "112 px, 8 frames",
        False,
        "videos (mp4, webm, mkv, avi, mov; folders of frame images) as clips, read by time",
    ),
}


def unknown_name(what: str, name: str, known: dict) -> str:
    return f"unknown {what} {name!r}; available: {', '.join(known)}"


def methods_for(domain: str) -> list[str]:
    return [name for name, entry in METHODS.items() if domain in entry.domains]


def fitting_default(default: str, fitting: list[str]) -> str:
    """The method a run on a domain trains when none is named: ``default`` (the config's, simclr) where
    it is one of the domain's ``fitting`` methods, else the first of them (audiovisual: avid, the only
    one taking a clip with its soundtrack); ``default`` when none fits (the method check says why)."""
    return default if default in fitting or not fitting else sorted(fitting)[0]


def unsupported(method: str, domain: str) -> str:
    """Why ``method`` cannot train on ``domain``'s samples, and which methods can."""
    working = methods_for(domain)
    return (
        f"method {method!r} does not support domain {domain!r} ({DOMAINS[domain].inputs} inputs); it "
        f"accepts: {METHODS[method].accepts}; methods for {domain!r}: {', '.join(working) or 'none'}"
    )


def method_domain_problem(method: str, domain: str) -> str | None:
    """A one-line reason ``--method method --domain domain`` cannot run, from this table alone."""
    if domain not in DOMAINS:
        return unknown_name("domain", domain, DOMAINS)
    if method not in METHODS:
        return unknown_name("method", method, METHODS)
    return None if domain in METHODS[method].domains else unsupported(method, domain)
