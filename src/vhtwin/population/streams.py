"""Counter-based random numbers keyed by ``(seed, stream, patient id, index, variable)``.

Every random number a population draws is a pure function of where it is used, never of how many numbers were drawn
before it. A uniform is the Threefry-2x32 block cipher (20 rounds; Salmon et al., "Parallel random numbers: as easy
as 1, 2, 3", SC 2011 -- the generator behind ``jax.random``) applied as a hash chain

    key_1 = threefry(key=(seed low 32 bits, seed high 32 bits), block=(stream, crc32(variable name)))
    key_2 = threefry(key=key_1,                                   block=(patient id low, patient id high))
    bits  = threefry(key=key_2,                                   block=(index, 0))

and the 64 output bits become a float64 uniform in the open interval (0, 1) with 53 significant bits. ``stream``
separates covariates, between-subject etas, inter-occasion etas and residual noise; ``index`` is the time index of a
residual draw or the occasion of an inter-occasion eta (0 otherwise). A standard normal is ``Phi^-1(u)``.

The cipher is written here in numpy, vectorised over arrays of patient ids (no loop over patients), so draws depend
on neither the JAX version, its PRNG flags (``jax_threefry_partitionable``, ``jax_default_prng_impl``), the device
count nor the batch size; a test checks it bit for bit against ``jax.extend.random.threefry_2x32``.
"""

from __future__ import annotations

import zlib

import numpy as np
from scipy.special import ndtri

from ..errors import InputError

#: Stream tags: the kinds of randomness a population uses, kept apart.
COVARIATES, ETA, IOV, RESIDUAL, RESAMPLE = 1, 2, 3, 4, 5

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = np.uint32(0x1BD11BDA)
_MASK = 0xFFFFFFFF


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def threefry2x32(key0, key1, count0, count1) -> tuple[np.ndarray, np.ndarray]:
    """Threefry-2x32 with 20 rounds on uint32 arrays (broadcast together) -> two uint32 arrays."""
    k0, k1, x0, x1 = np.broadcast_arrays(*(np.asarray(a, dtype=np.uint32) for a in (key0, key1, count0, count1)))
    ks = (k0, k1, k0 ^ k1 ^ _PARITY)
    with np.errstate(over="ignore"):  # additions are modulo 2**32 by design
        x0 = x0 + ks[0]
        x1 = x1 + ks[1]
        for i in range(5):
            for r in _ROTATIONS[i % 2]:
                x0 = x0 + x1
                x1 = _rotl(x1, r) ^ x0
            x0 = x0 + ks[(i + 1) % 3]
            x1 = x1 + ks[(i + 2) % 3] + np.uint32(i + 1)
    return x0, x1


def variable_tag(name: str) -> int:
    """A stable 32-bit tag of a variable's name (CRC-32; unlike ``hash``, the same in every Python process)."""
    return zlib.crc32(name.encode())


def check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2**64:
        raise InputError(f"seed {seed!r} must be an integer from 0 to 2**64 - 1")
    return int(seed)


def check_ids(ids, where: str = "patient ids") -> np.ndarray:
    a = np.asarray(ids)
    if a.ndim != 1 or (a.size and not np.issubdtype(a.dtype, np.integer)) or (a.size and a.min() < 0):
        raise InputError(f"{where} must be a 1-D array of integers >= 0, got {a!r:.80}")
    return a.astype(np.uint64)


def uniforms(seed: int, stream: int, name: str, ids: np.ndarray, index=0) -> np.ndarray:
    """Uniforms in (0, 1), one per entry of ``ids`` broadcast against ``index`` (e.g. ids[:, None], times[None, :])."""
    k0, k1 = threefry2x32(seed & _MASK, seed >> 32, stream, variable_tag(name))
    ids = np.asarray(ids, dtype=np.uint64)
    k0, k1 = threefry2x32(k0, k1, (ids & np.uint64(_MASK)).astype(np.uint32), (ids >> np.uint64(32)).astype(np.uint32))
    b0, b1 = threefry2x32(k0, k1, np.asarray(index, dtype=np.uint32), 0)
    high = (b0 >> np.uint32(5)).astype(np.float64)  # 27 bits
    low = (b1 >> np.uint32(6)).astype(np.float64)  # 26 bits
    return (high * 67108864.0 + low + 0.5) * 2.0**-53


def normals(seed: int, stream: int, name: str, ids: np.ndarray, index=0) -> np.ndarray:
    """Standard normal draws by inversion of :func:`uniforms` (so a normal is a function of one uniform)."""
    return ndtri(uniforms(seed, stream, name, ids, index))
