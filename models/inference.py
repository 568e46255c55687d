"""The six capabilities as operations on a trained EDDPM (METHOD.md section 4).

Each function takes a model in eval mode and raw examples, and returns plain Python or numpy
results; batching by length keeps the output in input order. Everything runs under
``torch.inference_mode`` except guided editing, which needs gradients of the classifier.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Container, Iterable, Iterator, Sequence

import numpy as np
import torch

from models.codec import to_device
from models.errors import UsageError
from models.prior import sampling
from models.prior.losses import z0_from_eps


def _device(model) -> torch.device:
    return next(model.parameters()).device


# Examples per chunk of encode/reconstruct/predict: bounds activations and output buffers.
CHUNK_SIZE = 4096


def length_batches(
    model, examples: Sequence[Any], batch_size: int, tokens_per_batch: int | None = None
) -> Iterator[list[int]]:
    """Index batches of similar-length examples (shortest first); callers restore input order.

    Without a budget each batch holds ``batch_size`` examples. With ``tokens_per_batch`` a batch
    grows while its size times its longest example (the padded tokens, residues or pixels it
    costs) stays within the budget, so short examples run in large batches and long ones in
    small batches; an example longer than the budget runs alone.
    """
    weight = model.codec.example_weight
    order = sorted(range(len(examples)), key=lambda i: weight(examples[i]))
    if not tokens_per_batch:
        for i in range(0, len(order), batch_size):
            yield order[i : i + batch_size]
        return
    batch: list[int] = []
    for i in order:
        # sorted: the newest example is the longest of its batch
        if batch and (len(batch) + 1) * weight(examples[i]) > tokens_per_batch:
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


def _example_key(example: Any) -> Any:
    """A hashable key equal for equal examples (strings; arrays by shape, dtype and bytes)."""
    if isinstance(example, (str, bytes)):
        return example
    if isinstance(example, torch.Tensor):
        example = example.detach().cpu().numpy()
    if isinstance(example, np.ndarray):
        return (example.shape, example.dtype.str, example.tobytes())
    return id(example)  # unknown kind: never merged


def _key_digest(key: Any) -> int | None:
    if isinstance(key, int):  # an object without a content key is never a repeat
        return None
    digest = hashlib.blake2b(digest_size=8)
    if isinstance(key, str):
        digest.update(key.encode("utf-8", "surrogatepass"))
    elif isinstance(key, bytes):
        digest.update(b"b" + key)
    else:
        shape, dtype, data = key
        digest.update(f"{shape}{dtype}".encode() + data)
    return int.from_bytes(digest.digest(), "little")


def example_digest(example: Any) -> int | None:
    """A 64-bit digest of an example's content (None for kinds without one), so repeats in a
    streamed input can be found in a first pass without keeping the examples."""
    return _key_digest(_example_key(example))


def repeated_digests(digests: Iterable[int | None]) -> frozenset[int]:
    """The digests that occur more than once."""
    values = np.fromiter((d for d in digests if d is not None), dtype=np.uint64)
    unique, counts = np.unique(values, return_counts=True)
    return frozenset(int(d) for d in unique[counts > 1])


def chunk_length(batch_size: int, chunk_size: int | None = None) -> int:
    """``chunk_size`` (default :data:`CHUNK_SIZE`) rounded down to a multiple of ``batch_size``
    (at least one batch), so sampled decoding draws the same noise however an input is chunked."""
    chunk_size = chunk_size or CHUNK_SIZE
    return max(batch_size, chunk_size // batch_size * batch_size)


def _slices(examples: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    return (examples[i : i + size] for i in range(0, len(examples), size))


@torch.inference_mode()
def encode_stream(
    model, chunks: Iterable[Sequence[Any]], batch_size: int = 64,
    tokens_per_batch: int | None = None, repeated: Container[int] = frozenset(),
) -> Iterator[np.ndarray]:
    """mu(x) for each chunk of examples: float32 arrays (n, D), rows in input order.

    Equal examples in a chunk are encoded once, and the rows of examples whose digest
    (:func:`example_digest`) is in ``repeated`` are kept for later chunks, so equal examples get
    bit-identical rows wherever they stand (a batched matmul may round a row differently by its
    position in the batch) while memory stays bounded by the chunk and the repeats.
    """
    kept: dict[Any, np.ndarray] = {}
    device = _device(model)
    for chunk in chunks:
        keys = [_example_key(x) for x in chunk]
        first: dict[Any, Any] = {}
        for key, example in zip(keys, chunk):
            first.setdefault(key, example)
        new = [k for k in first if k not in kept]
        todo = [first[k] for k in new]
        rows: dict[Any, np.ndarray] = {}
        for index in length_batches(model, todo, batch_size, tokens_per_batch):
            batch = to_device(model.collate([todo[i] for i in index]), device)
            for i, row in zip(index, model.encode(batch).float().cpu().numpy()):
                rows[new[i]] = row
        if repeated:  # only repeats are kept, so the digests need computing only when any exist
            kept.update((k, rows[k]) for k in new if _key_digest(k) in repeated)
        yield np.stack([rows[k] if k in rows else kept[k] for k in keys]).astype(np.float32)


def encode_chunks(
    model, examples: Sequence[Any], batch_size: int = 64, tokens_per_batch: int | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[np.ndarray]:
    """:func:`encode_stream` over examples held in memory, ``chunk_size`` at a time."""
    repeated = repeated_digests(example_digest(x) for x in examples)
    return encode_stream(model, _slices(examples, chunk_size), batch_size, tokens_per_batch,
                         repeated)


def encode(
    model, examples: Sequence[Any], batch_size: int = 64, tokens_per_batch: int | None = None
) -> np.ndarray:
    """mu(x) for every example: float32 array (N, D), rows in input order, no noise."""
    chunks = list(encode_chunks(model, examples, batch_size, tokens_per_batch))
    if not chunks:
        return np.zeros((0, model.config.prior.latent_dim), dtype=np.float32)
    return np.concatenate(chunks)


@torch.inference_mode()
def decode(
    model, latents: np.ndarray | torch.Tensor, batch_size: int = 64, seed: int = 0,
    generator: torch.Generator | None = None, **options,
) -> list[Any]:
    """Decode (N, D) latents to N examples (sampled decoding draws from ``generator``, or from
    a new one seeded with ``seed``).

    Raises:
        UsageError: the latent width does not match the model.
    """
    z = torch.as_tensor(np.asarray(latents, dtype=np.float32))
    D = model.config.prior.latent_dim
    if z.ndim != 2 or z.shape[1] != D:
        raise UsageError(f"latents have shape {tuple(z.shape)}, but this model needs (N, {D})")
    g = generator or torch.Generator(device=_device(model)).manual_seed(seed)
    results: list[Any] = []
    for i in range(0, z.shape[0], batch_size):
        results += model.decode(z[i : i + batch_size].to(_device(model)), generator=g, **options)
    return results


def reconstruct_stream(
    model, chunks: Iterable[Sequence[Any]], batch_size: int = 64, seed: int = 0,
    tokens_per_batch: int | None = None, repeated: Container[int] = frozenset(), **options,
) -> Iterator[list[Any]]:
    """x -> mu(x) -> decode for each chunk, in input order. One generator serves every chunk,
    so the output does not depend on the chunking when chunks hold whole batches
    (:func:`chunk_length`)."""
    g = torch.Generator(device=_device(model)).manual_seed(seed)
    for mu in encode_stream(model, chunks, batch_size, tokens_per_batch, repeated):
        yield decode(model, mu, batch_size, generator=g, **options)


def reconstruct_chunks(
    model, examples: Sequence[Any], batch_size: int = 64, seed: int = 0,
    tokens_per_batch: int | None = None, chunk_size: int = CHUNK_SIZE, **options,
) -> Iterator[list[Any]]:
    """:func:`reconstruct_stream` over examples held in memory."""
    repeated = repeated_digests(example_digest(x) for x in examples)
    chunks = _slices(examples, chunk_length(batch_size, chunk_size))
    return reconstruct_stream(model, chunks, batch_size, seed, tokens_per_batch, repeated,
                              **options)


def reconstruct(model, examples: Sequence[Any], batch_size: int = 64, seed: int = 0, **options) -> list[Any]:
    """x -> mu(x) -> decode, in input order."""
    return [x for chunk in reconstruct_chunks(model, examples, batch_size, seed, **options) for x in chunk]


@torch.inference_mode()
def reconstruction_nll(
    model, examples: Sequence[Any], batch_size: int = 64, tokens_per_batch: int | None = None
) -> np.ndarray:
    """-log p(x | z0 = mu(x)) per example, averaged over its tokens or residues: float64 (N,),
    in input order (the codec's reconstruction loss at the noise-free latent)."""
    out = np.zeros(len(examples), dtype=np.float64)
    for index in length_batches(model, examples, batch_size, tokens_per_batch):
        batch = to_device(model.collate([examples[i] for i in index]), _device(model))
        nll = model.codec.reconstruction_loss(batch, model.encode(batch))  # (B,)
        out[index] = nll.float().cpu().numpy()
    return out


@torch.inference_mode()
def generate(
    model, n: int, steps: int = 50, sampler: str = "ddim", seed: int = 0, batch_size: int = 64, **options
) -> list[Any]:
    """Sample z_T ~ N(0, I), run the latent sampler to z0 and decode: n examples."""
    g = torch.Generator(device=_device(model)).manual_seed(seed)
    latents = [
        model.sample_latents(min(batch_size, n - i), steps, sampler, generator=g)
        for i in range(0, n, batch_size)
    ]
    z0 = torch.cat(latents) if latents else torch.zeros(0, model.config.prior.latent_dim)
    return decode(model, z0.cpu(), batch_size, seed, **options)


@torch.inference_mode()
def interpolate(
    model, a: Any, b: Any, points: int = 5, method: str = "slerp", steps: int = 50, seed: int = 0, **options
) -> list[Any]:
    """Path from a to b: encode both, DDIM-invert to z_T, interpolate there, DDIM back, decode.

    Returns ``points`` examples, the first and last being the round trips of a and b.
    """
    mu = torch.as_tensor(encode(model, [a, b])).to(_device(model))
    z_T = model.invert(mu, steps)  # (2, D)
    w = torch.linspace(0, 1, points, device=z_T.device)
    if method == "slerp":
        path = sampling.slerp(z_T[0], z_T[1], w)
    elif method == "lerp":
        path = sampling.lerp(z_T[0], z_T[1], w)
    else:
        raise UsageError(f"unknown interpolation method {method!r}", hint="use slerp or lerp")
    z0 = model.denoise(path, steps, "ddim")
    return decode(model, z0.cpu(), seed=seed, **options)


Objective = Callable[[torch.Tensor], torch.Tensor]


def label_objective(model, label: str) -> Objective:
    """log p(label | z) from the classification head: (B, D) -> (B,).

    Raises:
        UsageError: no head, or a label the model was not trained with.
    """
    target = model.class_index(label)
    head = model.head()
    return lambda z: torch.log_softmax(head(z), dim=-1)[:, target]


def value_objective(model, head: str | None = None, toward: str | None = None,
                    target: float | None = None) -> Objective:
    """A score to raise for a regression head, in standardised units: (B, D) -> (B,).

    ``toward="high"`` gives y, ``"low"`` gives -y, and ``target`` gives -(y - y_target)^2 / 2,
    the log-density of a unit-variance Gaussian around the target.

    Raises:
        UsageError: no such head, a classification head, or neither/both of toward and target.
    """
    chosen = model.head(head)
    config = chosen.config
    if config.kind != "regression":
        raise UsageError(f"head {config.name!r} is a classifier; pass --toward LABEL with a label")
    if (toward is None) == (target is None):
        raise UsageError("give exactly one of --toward high|low and --target VALUE")
    if target is not None:
        goal = (target - config.mean) / config.std
        return lambda z: -0.5 * (chosen(z) - goal).pow(2)
    if toward not in ("high", "low"):
        raise UsageError(f"--toward {toward!r}: a regression head moves toward high or low")
    sign = 1.0 if toward == "high" else -1.0
    return lambda z: sign * chosen(z)


def edit_guided(
    model, examples: Sequence[Any], objective: Objective, strength: float = 2.0, steps: int = 50,
    start: float = 1.0, batch_size: int = 64, seed: int = 0, **options,
) -> list[Any]:
    """Decode the latents of :func:`guided_latents` for the encoder means of ``examples``."""
    mu = torch.as_tensor(encode(model, examples, batch_size)).to(_device(model))
    z0 = guided_latents(model, mu, objective, strength, steps, start, batch_size)
    return decode(model, z0.cpu(), batch_size, seed, **options)


def guided_latents(
    model, mu: torch.Tensor, objective: Objective, strength: float = 2.0, steps: int = 50,
    start: float = 1.0, batch_size: int = 64,
) -> torch.Tensor:
    """Guided DDIM from the inverted latent toward a higher ``objective`` (Dhariwal & Nichol 2021).

    mu (B, D) is DDIM-inverted up to the fraction ``start`` of the schedule (1.0: all the way to
    z_T), then denoised back with eps' = eps_hat - s * sqrt(1 - abar_t) * grad_{z_t} objective(
    z0_hat(z_t)): each step is a denoising step of the prior plus a step up the head's gradient,
    evaluated on the clean-latent estimate z0_hat. A classifier's log p(label | z) is classifier
    guidance; a regressor's value (or closeness to a target) guides fitness the same way. Returns
    the edited z0 (B, D); strength 0 gives the plain DDIM round trip.
    """
    schedule = model.schedule
    until = max(0, min(schedule.num_timesteps - 1, round(start * schedule.num_timesteps) - 1))

    def guided(z_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            z = z_t.detach().requires_grad_(True)
            eps_hat = model.eps(z, t)
            z0_hat = z0_from_eps(schedule, z, eps_hat, t)
            grad = torch.autograd.grad(objective(z0_hat).sum(), z)[0]
        abar = schedule.alphas_cumprod[t][:, None]
        return eps_hat.detach() - strength * (1 - abar).sqrt() * grad

    edited = []
    for i in range(0, mu.shape[0], batch_size):
        with torch.inference_mode():
            z_t = model.invert(mu[i : i + batch_size], steps, until=until)
        z0 = model.denoise(z_t.clone(), steps, "ddim", eps_fn=guided, start=until)
        edited.append(z0.detach())
    return torch.cat(edited)


def class_mean_direction(model, label: str) -> torch.Tensor:
    """m_label - (mean of the other class means), from the class means of mu stored at the end of
    training: (D,), on the model's device. It is the weight vector of the linear nearest-class-mean
    classifier between the label and the rest (on standardised latents for images).

    Raises:
        UsageError: no classification head, an unknown label, or no stored class means.
    """
    target = model.class_index(label)
    means = model.class_means.float()
    if not bool(means.abs().sum() > 0):
        raise UsageError("this model has no stored class means",
                         hint="retrain with labels (--labels for text, class sub-folders for images)")
    others = torch.cat([means[:target], means[target + 1 :]]).mean(0)
    return (means[target] - others).to(_device(model))


@torch.inference_mode()
def edit_mean(model, examples: Sequence[Any], label: str, strength: float = 1.0, batch_size: int = 64,
              seed: int = 0, **options) -> list[Any]:
    """Move mu along the class-mean direction: mu + s * (m_label - mean of the other class means)."""
    direction = class_mean_direction(model, label)
    mu = torch.as_tensor(encode(model, examples, batch_size)).to(_device(model))
    return decode(model, (mu + strength * direction).cpu(), batch_size, seed, **options)


@torch.inference_mode()
def predict_stream(
    model, chunks: Iterable[Sequence[Any]], batch_size: int = 64,
    tokens_per_batch: int | None = None, repeated: Container[int] = frozenset(),
) -> Iterator[dict[str, np.ndarray]]:
    """Every head's prediction from mu for each chunk, in input order: class probabilities
    (n, C), or values (n,) in the target's original units."""
    for mu in encode_stream(model, chunks, batch_size, tokens_per_batch, repeated):
        z = torch.as_tensor(mu).to(_device(model))
        yield {name: head.predict(z).cpu().numpy() for name, head in model.heads.items()}


def predict_chunks(
    model, examples: Sequence[Any], batch_size: int = 64, tokens_per_batch: int | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[dict[str, np.ndarray]]:
    """:func:`predict_stream` over examples held in memory, ``chunk_size`` at a time."""
    repeated = repeated_digests(example_digest(x) for x in examples)
    return predict_stream(model, _slices(examples, chunk_size), batch_size, tokens_per_batch,
                          repeated)


def predict(model, examples: Sequence[Any], batch_size: int = 64) -> dict[str, np.ndarray]:
    """Every head's prediction for all examples (see :func:`predict_chunks`)."""
    chunks = list(predict_chunks(model, examples, batch_size))
    return {name: np.concatenate([c[name] for c in chunks]) for name in model.heads}
