"""Read images for the image codec: files, directories, globs, ``.npz`` arrays and stdin.

The rules, in the order they are applied:

1. Sources. ``-`` reads one image (or one ``.npz``) from stdin bytes; its format is sniffed from
   the magic bytes (PNG, JPEG, GIF, WebP; a zip header means ``.npz``). A directory is searched
   recursively for files with an image suffix (:data:`IMAGE_SUFFIXES`, any case), in sorted
   order, skipping hidden files and folders; the first sub-folder below the directory is the
   image's class label. A path that does not exist but contains ``*``, ``?`` or ``[`` is a glob
   (``**`` recurses). Any other path is one image, or an ``.npz`` archive holding ``images``
   uint8 (N, H, W) or (N, H, W, 3) and optionally ``labels`` or ``category`` (N,) with
   ``label_names`` or ``category_names`` naming integer classes.
2. Decoding. Every image is fully decoded before use: empty, truncated, corrupt and non-image
   files are errors naming the file and the reason, and an image with more pixels than
   ``max_image_pixels`` is refused before it is decoded (a decompression bomb). Pillow's warnings
   never reach the user.
3. Colour. The EXIF orientation is applied; transparency (RGBA, LA, palette or colour-key
   ``tRNS``) is composited onto white; palette, CMYK and other modes become RGB; grayscale is
   replicated to three channels; 1-bit pixels map 0 -> 0 and 1 -> 255; 16-bit pixels are divided
   by 257 (65535 -> 255), never clipped (a 16-bit gray colour key is ignored); animated files
   give their first frame. Only PNG, JPEG, GIF, WebP, BMP and TIFF are decoded.
4. Size. The shorter side is resized to the model resolution (Lanczos) and the longer side is
   centre-cropped, so 1x1 and 300x1 images give the same shape as any other.
5. Values. The model input is float32 (3, H, W) in [-1, 1]: ``x = pixel / 127.5 - 1``.

Ids are the paths as given (``data.npz[12]`` for the 13th array of an archive, ``<stdin>`` for
stdin); they name images in messages and listings and are never used to build output paths.
No function here prints; every user-caused failure raises :class:`~models.errors.InputDataError`.
"""

from __future__ import annotations

import glob
import hashlib
import io
import os
import sys
import warnings
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator, Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from models.errors import InputDataError

STDIN_NAME = "<stdin>"
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff"})
# Pillow's own warning threshold; Pillow itself only refuses images twice this size.
DEFAULT_MAX_IMAGE_PIXELS = 89_478_485
ZIP_MAGIC = b"PK\x03\x04"  # .npz archives are zip files

_STDIN_FORMATS = "PNG, JPEG, GIF or WebP"
GLOB_CHARS = frozenset("*?[")  # a source with these and no such file is a pattern
# Pillow plugins tried on image bytes. Others (EPS, which runs Ghostscript, PSD, ICO ...) are
# refused as "not a recognised image". (JPEG also opens multi-picture MPO camera files.)
_PILLOW_FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF")
_LABEL_ARRAYS = (("labels", "label_names"), ("category", "category_names"))


@dataclass(frozen=True)
class ImageRecord:
    """One image ready for the model.

    Args:
        image: float32 (3, H, W) pixels in [-1, 1] at the model resolution.
        id: the path as given, ``ARCHIVE[i]`` for an array of an ``.npz``, or ``<stdin>``.
        label: class sub-folder name or ``.npz`` label, else None.
    """

    image: np.ndarray
    id: str
    label: str | None = None


@dataclass(frozen=True)
class ImageReadResult:
    """All images of the sources, in source order.

    Args:
        records: at least one image.
        skipped_files: files inside directories that were skipped for their suffix.
    """

    records: list[ImageRecord]
    skipped_files: int


@dataclass(frozen=True, slots=True)
class _Item:
    """One image to decode: a file (``path``), stdin bytes (``data``) or an array (``array``)."""

    id: str
    label: str | None = None
    path: str | None = None
    data: bytes | None = None
    array: np.ndarray | None = None


# -- public API ------------------------------------------------------------------------------------
def read_images(
    sources: Sequence[str | os.PathLike[str]],
    resolution: int,
    *,
    labels: bool = False,
    max_image_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS,
    stdin: BinaryIO | None = None,
) -> ImageReadResult:
    """Read every image of ``sources`` as model input.

    Args:
        sources: image files, directories, globs, ``.npz`` archives, or ``"-"`` for stdin.
        resolution: the model's square size R.
        labels: require a label (class sub-folder or ``.npz`` label array) for every image.
        max_image_pixels: refuse images with more pixels than this; None or 0 means no limit.
        stdin: binary stream read for ``-``; defaults to ``sys.stdin.buffer``.

    Returns:
        Records with float32 (3, R, R) images in [-1, 1], in source order.

    Raises:
        InputDataError: a missing source, no images, an unreadable image (every image is checked;
            the message names the first bad file and counts the others), a malformed ``.npz``, or
            an unlabelled image when ``labels`` is set.
    """
    if resolution < 1:
        raise ValueError(f"resolution must be positive, got {resolution}")
    items, skipped = _expand_all(sources, stdin)
    if labels:
        _require_labels(items)
    decoded = _decode_all(items, max_image_pixels, lambda im: fit_square(im, resolution))
    records = [
        ImageRecord(to_model_input(np.asarray(im)), item.id, item.label)
        for item, im in zip(items, decoded)
    ]
    return ImageReadResult(records, skipped)


@dataclass(frozen=True)
class ImageFiles:
    """The images some sources name, found but not decoded, for reading in two passes (a check
    of every image, then the images one at a time) without holding their pixels.

    Args:
        items: one per image: a path, the bytes read from stdin, or an array of an ``.npz``
            (an archive is held as its uint8 arrays).
        skipped_files: files inside directories that were skipped for their suffix.
    """

    items: list[_Item]
    skipped_files: int

    def __len__(self) -> int:
        return len(self.items)

    def check(
        self, resolution: int, key: Callable[[np.ndarray], Any],
        max_image_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS,
    ) -> list[Any]:
        """Decode every image and return ``key`` of each model input (as :meth:`records` gives
        it), keeping nothing else.

        Raises:
            InputDataError: as :func:`read_images`: the first bad image, and how many others.
        """
        return _decode_all(self.items, max_image_pixels,
                           lambda im: key(to_model_input(np.asarray(fit_square(im, resolution)))))

    def records(
        self, resolution: int, max_image_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS
    ) -> Iterator[ImageRecord]:
        """The images as model input, decoded one at a time in source order."""
        for item in self.items:
            image = fit_square(_decode(item, max_image_pixels), resolution)
            yield ImageRecord(to_model_input(np.asarray(image)), item.id, item.label)


def find_images(
    sources: Sequence[str | os.PathLike[str]], stdin: BinaryIO | None = None
) -> ImageFiles:
    """Find the images of ``sources`` (as :func:`read_images`) without decoding them.

    Raises:
        InputDataError: a missing source, no images, or a malformed ``.npz``.
    """
    return ImageFiles(*_expand_all(sources, stdin))


def check_images(
    sources: Sequence[str | os.PathLike[str]],
    *,
    max_image_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS,
    stdin: BinaryIO | None = None,
) -> int:
    """Fully decode every image of ``sources`` without keeping them (a check before training).

    Args:
        sources: as for :func:`read_images`.
        max_image_pixels: as for :func:`read_images`.
        stdin: as for :func:`read_images`.

    Returns:
        The number of images found.

    Raises:
        InputDataError: as for :func:`read_images`, before any image is used.
    """
    items, _ = _expand_all(sources, stdin)
    _decode_all(items, max_image_pixels, lambda im: None)
    return len(items)


def load_rgb(
    source: str | os.PathLike[str],
    *,
    max_image_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS,
    stdin: BinaryIO | None = None,
) -> np.ndarray:
    """One image file (or ``-``) as RGB at its original size, after rules 2 and 3.

    Args:
        source: an image file path, or ``"-"`` for stdin.
        max_image_pixels: as for :func:`read_images`.
        stdin: as for :func:`read_images`.

    Returns:
        uint8 array (H, W, 3), EXIF orientation applied and transparency on white.

    Raises:
        InputDataError: missing, empty, truncated, non-image or oversized file.
    """
    name = os.fsdecode(os.fspath(source))
    if os.path.isdir(name):
        raise InputDataError(f"{name} is a directory, expected one image file")
    items = _stdin_items(stdin) if name == "-" else _file_items(name)
    if items[0].array is not None:
        raise InputDataError(f"{name} is an .npz archive, expected one image file")
    return np.asarray(_decode(items[0], max_image_pixels).convert("RGB"))


def fit_square(image: Image.Image, size: int) -> Image.Image:
    """Resize the shorter side to ``size`` (Lanczos), then centre-crop the longer side.

    Args:
        image: a Pillow image in mode L or RGB, any size down to 1x1.
        size: the output side R.

    Returns:
        An RGB image of R x R pixels.
    """
    w, h = image.size
    scale = size / min(w, h)
    new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
    if (new_w, new_h) != (w, h):
        # reducing_gap: a box pre-shrink before Lanczos, fast for huge images, same look.
        image = image.resize((new_w, new_h), Image.Resampling.LANCZOS, reducing_gap=3.0)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    return image.crop((left, top, left + size, top + size)).convert("RGB")


def to_model_input(rgb: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) pixels -> float32 (3, H, W) in [-1, 1]."""
    x = rgb.astype(np.float32).transpose(2, 0, 1)  # (H, W, 3) -> (3, H, W)
    return x / 127.5 - 1.0


def to_uint8(x: Any) -> np.ndarray:
    """Model output (3, H, W) in [-1, 1], numpy or torch -> uint8 (H, W, 3), clipped, rounded."""
    x = x.detach().float().cpu().numpy() if hasattr(x, "detach") else np.asarray(x, np.float32)
    pixels = np.clip(np.round((x + 1.0) * 127.5), 0, 255).astype(np.uint8)
    return pixels.transpose(1, 2, 0)  # (3, H, W) -> (H, W, 3)


def save_png(x: Any, path: str | os.PathLike[str]) -> None:
    """Write a model image (3, H, W) in [-1, 1] to ``path`` as an RGB PNG."""
    save_rgb_png(to_uint8(x), path)


def tile_images(rows: Sequence[Sequence[Any]], gap: int = 2) -> np.ndarray:
    """Lay model images out as a grid: one list of images per row, white gaps between them.

    Args:
        rows: rows of (3, H, W) images in [-1, 1], all of one size; shorter rows are left-aligned.
        gap: pixels of white between neighbouring images and around the edge.

    Returns:
        uint8 (rows (H + gap) + gap, columns (W + gap) + gap, 3), the widest row setting the width.
    """
    tiles = [[to_uint8(x) for x in row] for row in rows]
    H, W = tiles[0][0].shape[:2]
    n_cols = max(len(row) for row in tiles)
    grid = np.full((len(tiles) * (H + gap) + gap, n_cols * (W + gap) + gap, 3), 255, np.uint8)
    for r, row in enumerate(tiles):
        for c, tile in enumerate(row):
            top, left = gap + r * (H + gap), gap + c * (W + gap)
            grid[top : top + H, left : left + W] = tile
    return grid


def save_rgb_png(pixels: np.ndarray, path: str | os.PathLike[str]) -> None:
    """Write uint8 (H, W, 3) pixels to ``path`` as an RGB PNG."""
    Image.fromarray(pixels, mode="RGB").save(path, format="PNG")


def image_dataset(
    sources: Sequence[str | os.PathLike[str]],
    resolution: int,
    *,
    labels: bool | None = False,
    on_note: Callable[[str], None] | None = None,
    max_image_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS,
    stdin: BinaryIO | None = None,
):
    """Read images into a training dataset, like :func:`models.data.datasets.text_dataset`.

    Args:
        sources, resolution, max_image_pixels, stdin: as for :func:`read_images`.
        labels: True requires a label for every image (as :func:`read_images`); None uses the
            labels when every image has one and there are at least two classes, else none.
        on_note: receives one line when directories held files without an image suffix, and
            one line naming the classes when ``labels`` is None and labels are used.

    Returns:
        ``(dataset, classes, fingerprint)``: a :class:`models.training.Dataset` of float32
        (3, R, R) arrays with a ``label`` target (class index) when ``labels`` is set, the sorted
        class names (numeric names in numeric order; empty without labels), and the SHA-256 of
        the images and labels in order.

    Raises:
        InputDataError: as for :func:`read_images`, before any image is used.
    """
    import torch

    from models.training import Dataset

    result = read_images(
        sources, resolution, labels=bool(labels), max_image_pixels=max_image_pixels, stdin=stdin
    )
    if result.skipped_files and on_note:
        on_note(f"skipped {result.skipped_files} file(s) without an image suffix in directories")
    if labels is None:
        found = {r.label for r in result.records}
        labels = None not in found and len(found) > 1
        if labels and on_note:
            on_note(f"training a classifier head on {len(found)} classes from the labels "
                    f"(class sub-folders or .npz labels): {', '.join(sorted(found, key=_label_order))}")
    digest = hashlib.sha256()
    for rec in result.records:
        digest.update(f"{rec.label if labels else ''}\t".encode())
        digest.update(to_uint8(rec.image).tobytes())
    classes: tuple[str, ...] = ()
    targets = {}
    if labels:
        classes = tuple(sorted({r.label for r in result.records}, key=_label_order))
        index = {c: i for i, c in enumerate(classes)}
        targets["label"] = torch.tensor([index[r.label] for r in result.records], dtype=torch.long)
    dataset = Dataset([r.image for r in result.records], targets)
    return dataset, classes, digest.hexdigest()


# -- sources -> items ------------------------------------------------------------------------------
def _expand_all(
    sources: Sequence[str | os.PathLike[str]], stdin: BinaryIO | None
) -> tuple[list[_Item], int]:
    items: list[_Item] = []
    skipped = 0
    for source in sources:
        found, n_skipped = _expand(os.fsdecode(os.fspath(source)), stdin)
        items += found
        skipped += n_skipped
    if not items:
        names = ", ".join(os.fsdecode(os.fspath(s)) for s in sources) or "no sources"
        raise InputDataError(
            f"no images found in {names}",
            hint=f"pass image files ({', '.join(sorted(IMAGE_SUFFIXES))}), folders of them, "
            "or an .npz with an 'images' array",
        )
    return items, skipped


def _expand(source: str, stdin: BinaryIO | None) -> tuple[list[_Item], int]:
    """The images named by one source, and how many non-image files a directory held."""
    if source == "-":
        return _stdin_items(stdin), 0
    if os.path.isdir(source):
        return _directory_items(source)
    if os.path.exists(source) or not GLOB_CHARS & set(source):
        return _file_items(source), 0
    matches = sorted(p for p in glob.glob(source, recursive=True) if os.path.isfile(p))
    if not matches:
        raise InputDataError(f"no files match the pattern {source}")
    return [item for path in matches for item in _file_items(path)], 0


def _file_items(path: str) -> list[_Item]:
    with _opened(path) as handle:
        head = handle.read(len(ZIP_MAGIC))
    if head == ZIP_MAGIC or path.lower().endswith(".npz"):
        return _npz_items(_read_file(path), path)
    return [_Item(id=path, path=path)]


def _directory_items(directory: str) -> tuple[list[_Item], int]:
    items: list[_Item] = []
    skipped = 0
    root = Path(directory)
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel = Path(dirpath).relative_to(root)
        label = rel.parts[0] if rel.parts else None
        for filename in sorted(filenames):
            if filename.startswith("."):
                continue
            if Path(filename).suffix.lower() not in IMAGE_SUFFIXES:
                skipped += 1
                continue
            path = os.path.join(dirpath, filename)
            items.append(_Item(id=path, label=label, path=path))
    return items, skipped


def _stdin_items(stdin: BinaryIO | None) -> list[_Item]:
    stream = stdin if stdin is not None else getattr(sys.stdin, "buffer", None)
    try:
        data = stream.read() if stream is not None else b""
    except OSError as exc:
        raise InputDataError(f"cannot read stdin: {exc.strerror or exc}") from exc
    if not data:
        raise InputDataError("no examples on stdin", hint="pipe in one image, e.g. < image.png")
    kind = sniff_image_format(data)
    if kind == "npz":
        return _npz_items(data, STDIN_NAME)
    if kind is None:
        raise InputDataError(
            f"{STDIN_NAME}: not a {_STDIN_FORMATS} image (starts with bytes {data[:8].hex(' ')})",
            hint="pipe in one image file, or pass the file path instead of -",
        )
    return [_Item(id=STDIN_NAME, data=data)]


def sniff_image_format(data: bytes) -> str | None:
    """``png``, ``jpeg``, ``gif``, ``webp`` or ``npz`` (a zip header) from the magic bytes of
    ``data``, or None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data.startswith(ZIP_MAGIC):
        return "npz"
    return None


def _npz_items(data: bytes, name: str) -> list[_Item]:
    """One item per array of an ``.npz`` archive (never unpickles)."""
    try:
        archive = np.load(io.BytesIO(data), allow_pickle=False)
        arrays = {key: archive[key] for key in archive.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InputDataError(f"{name}: not a readable .npz archive ({exc})") from None
    images = arrays.get("images")
    if images is None:
        found = ", ".join(arrays) or "none"
        raise InputDataError(f"{name}: .npz has no 'images' array (found {found})")
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.dtype != np.uint8 or not (
        images.ndim == 3 or (images.ndim == 4 and images.shape[-1] == 3)
    ):
        raise InputDataError(
            f"{name}: 'images' is {images.dtype} {images.shape}, "
            "expected uint8 (N, H, W) or (N, H, W, 3)",
            hint="store pixels as uint8 in 0..255" if images.dtype != np.uint8 else
            "store grayscale (N, H, W) or RGB (N, H, W, 3) images (drop an alpha channel)",
        )
    if images.shape[0] == 0 or images.shape[1] == 0 or images.shape[2] == 0:
        raise InputDataError(f"no images found in {name} ('images' has shape {images.shape})")
    labels = _npz_labels(arrays, len(images), name)
    return [
        _Item(id=f"{name}[{i}]", label=labels[i] if labels else None, array=image)
        for i, image in enumerate(images)
    ]


def _npz_labels(arrays: dict[str, np.ndarray], n: int, name: str) -> list[str] | None:
    for key, names_key in _LABEL_ARRAYS:
        if key not in arrays:
            continue
        values = arrays[key]
        if values.shape != (n,):
            raise InputDataError(
                f"{name}: '{key}' has shape {values.shape}, expected ({n},) to match 'images'"
            )
        names = arrays.get(names_key)
        if names is not None and np.issubdtype(values.dtype, np.integer):
            if values.min() < 0 or values.max() >= len(names):
                raise InputDataError(
                    f"{name}: '{key}' holds indices outside 0..{len(names) - 1} of '{names_key}'"
                )
            return [str(names[v]) for v in values]
        return [str(v) for v in values.tolist()]
    return None


def _require_labels(items: list[_Item]) -> None:
    missing = [item for item in items if item.label is None]
    if missing:
        raise InputDataError(
            f"{missing[0].id} has no label ({len(missing)} of {len(items)} images have none)",
            hint="put each image in a class sub-folder (DIR/CLASS/image.png), or give an .npz "
            "with a 'labels' array, or train without labels",
        )


def _label_order(label: str) -> tuple[int, int, str]:
    """Sort numeric labels numerically (2 before 10) and after them the others alphabetically."""
    return (0, int(label), "") if label.isdigit() else (1, 0, label)


# -- decoding -------------------------------------------------------------------------------------
def _decode_all(
    items: list[_Item], max_image_pixels: int | None, convert: Callable[[Image.Image], Any]
) -> list[Any]:
    """Decode and ``convert`` every item; report the first failure and how many others failed."""
    results: list[Any] = []
    failures: list[InputDataError] = []
    for item in items:
        try:
            results.append(convert(_decode(item, max_image_pixels)))
        except InputDataError as exc:
            failures.append(exc)
    if failures:
        first = failures[0]
        more = f" ({len(failures) - 1} more unreadable image(s) found)" if len(failures) > 1 else ""
        raise InputDataError(first.message + more, hint=first.hint)
    return results


def _decode(item: _Item, max_image_pixels: int | None) -> Image.Image:
    """Rules 2 and 3 for one item: a fully decoded image in mode L or RGB."""
    if item.array is not None:
        return Image.fromarray(item.array)
    data = item.data if item.data is not None else _read_file(item.path)
    if not data:
        raise InputDataError(f"{item.id}: empty file (0 bytes), expected an image")
    try:
        with warnings.catch_warnings(), _no_pillow_pixel_limit():
            warnings.simplefilter("ignore")  # palette-transparency and EXIF notices
            # Not a with-block: closing an image discards its pixels, and it reads from memory.
            image = Image.open(io.BytesIO(data), formats=_PILLOW_FORMATS)
            _check_pixels(image, item.id, max_image_pixels)
            image.seek(0)  # animated GIF/WebP/PNG: the first frame
            image.load()
            ImageOps.exif_transpose(image, in_place=True)
            return _to_rgb_or_gray(image, item.id)
    except UnidentifiedImageError:
        raise InputDataError(
            f"{item.id}: not a recognised image file (PNG, JPEG, GIF, WebP, BMP or TIFF)"
        ) from None
    except Image.DecompressionBombError as exc:  # not an OSError; kept for Pillow's own checks
        raise InputDataError(f"{item.id}: {exc}", hint=_LIMIT_HINT) from None
    except (OSError, SyntaxError, EOFError, ValueError) as exc:
        detail = str(exc) or type(exc).__name__
        reason = "truncated image" if "truncated" in detail else "corrupt or unreadable image"
        raise InputDataError(f"{item.id}: {reason} ({detail})") from None


_LIMIT_HINT = (
    "if you trust this file, raise the limit with --max-image-pixels N "
    "(max_image_pixels in Python; 0 means no limit)"
)


def _check_pixels(image: Image.Image, name: str, limit: int | None) -> None:
    w, h = image.size
    if limit and w * h > limit:
        raise InputDataError(
            f"{name}: image has {w * h:,} pixels ({w}x{h}), more than the limit of {limit:,} "
            "(a possible decompression bomb)",
            hint=_LIMIT_HINT,
        )


@contextmanager
def _no_pillow_pixel_limit() -> Iterator[None]:
    """Switch off Pillow's global pixel limit while :func:`_check_pixels` applies ours."""
    # NOTE: Image.MAX_IMAGE_PIXELS is process-global; images are read on one thread.
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def _to_rgb_or_gray(image: Image.Image, name: str) -> Image.Image:
    """Rule 3: any Pillow mode -> L (gray, 1-bit, 16-bit) or RGB (everything else)."""
    mode = image.mode
    if mode == "1":
        return image.convert("L")  # 0 -> 0, 1 -> 255
    if mode.startswith("I") or mode == "F":
        return Image.fromarray(_high_depth_to_uint8(np.asarray(image), mode))
    if image.has_transparency_data:
        # NOTE: convert("RGB") would drop alpha and show the hidden colours (black for C13).
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, image.convert("RGBA")).convert("RGB")
    if mode in ("L", "RGB"):
        return image
    try:
        return image.convert("RGB")
    except ValueError:
        raise InputDataError(f"{name}: image mode {mode} is not supported") from None


def _high_depth_to_uint8(values: np.ndarray, mode: str) -> np.ndarray:
    """16/32-bit integer pixels / 257 (65535 -> 255); float pixels in [0, 1] or [0, 255]."""
    if mode == "F":
        values = values.astype(np.float64)
        values = values * 255.0 if values.max(initial=0.0) <= 1.0 else values
        return np.clip(np.round(values), 0, 255).astype(np.uint8)
    values = np.clip(values.astype(np.float64), 0, 65535)
    return np.round(values / 257.0).astype(np.uint8)


# -- files ----------------------------------------------------------------------------------------
@contextmanager
def _opened(path: str) -> Iterator[BinaryIO]:
    try:
        with open(path, "rb") as handle:
            yield handle
    except FileNotFoundError:
        raise InputDataError(
            f"{path}: no such file", hint="check the path, or pass - to read from stdin"
        ) from None
    except PermissionError:
        raise InputDataError(f"cannot read {path}: permission denied") from None
    except OSError as exc:
        raise InputDataError(f"cannot read {path}: {exc.strerror or exc}") from None


def _read_file(path: str) -> bytes:
    with _opened(path) as handle:
        return handle.read()
