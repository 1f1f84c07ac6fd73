"""Random generators tied to fixed-size blocks of global rows.

A run generates rows ``0..N-1`` in row groups of ``buffer_size`` rows, but randomness is tied
to blocks of :data:`BLOCK_ROWS` global rows instead: the draws for block ``j`` of a column
depend only on ``(seed, fingerprint, stream, j)``. So with a seed the same config yields the
same rows whatever the buffer size, in one pass or row group by row group, in any process
(keys come from sha256, never from ``hash()``, so ``PYTHONHASHSEED`` does not matter).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable

import numpy as np

BLOCK_ROWS = 256
"""Rows per randomness block; changing it changes every seeded dataset."""


def _key_bytes(seed: int, fingerprint: str, stream: str, block: int) -> bytes:
    return hashlib.sha256(f"{seed}|{fingerprint}|{stream}|{block}".encode()).digest()


def derived_seed(seed: int | None, fingerprint: str, stream: str, block: int) -> int:
    """A 64-bit integer seed for ``(seed, fingerprint, stream, block)`` (e.g. for Faker).

    With ``seed=None`` the result is unpredictable (fresh OS entropy).
    """
    if seed is None:
        return secrets.randbits(64)
    return int.from_bytes(_key_bytes(seed, fingerprint, stream, block)[:8], "little")


def block_rng(seed: int | None, fingerprint: str, stream: str, block: int) -> np.random.Generator:
    """The generator for one block of one stream.

    With ``seed`` set: PCG64 keyed by 128 bits of ``sha256(f"{seed}|{fingerprint}|{stream}|
    {block}")``, identical in every process. With ``seed=None``: a fresh unpredictable
    generator.
    """
    if seed is None:
        return np.random.default_rng()
    key = int.from_bytes(_key_bytes(seed, fingerprint, stream, block)[:16], "little")
    return np.random.Generator(np.random.PCG64(key))


def block_span(start: int, n: int) -> range:
    """The blocks overlapping global rows ``[start, start + n)`` (empty when ``n == 0``)."""
    if n <= 0:
        return range(0)
    return range(start // BLOCK_ROWS, (start + n - 1) // BLOCK_ROWS + 1)


def draw_rows(
    seed: int | None,
    fingerprint: str,
    stream: str,
    start: int,
    n: int,
    draw: Callable[[np.random.Generator, int], tuple[np.ndarray, ...]],
) -> tuple[np.ndarray, ...]:
    """Per-row draws for global rows ``[start, start + n)`` of one stream.

    ``draw(rng, size)`` returns arrays whose first axis has ``size`` entries. With a seed it is
    called once per overlapping block with ``size=BLOCK_ROWS`` and the block's generator, and
    the wanted rows are sliced out, so any split of ``[0, N)`` gives the same rows. Without a
    seed it is called once with ``size=n``.
    """
    if seed is None or n == 0:
        return draw(block_rng(None, fingerprint, stream, 0), n)
    blocks = block_span(start, n)
    parts = [draw(block_rng(seed, fingerprint, stream, j), BLOCK_ROWS) for j in blocks]
    offset = start - blocks.start * BLOCK_ROWS
    out = []
    for i in range(len(parts[0])):
        pieces = [p[i] for p in parts]
        joined = pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
        out.append(joined[offset : offset + n])
    return tuple(out)
