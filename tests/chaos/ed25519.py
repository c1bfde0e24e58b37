"""Ed25519 signatures (RFC 8032, section 5.1.6), so the harness signs interactions as Discord
does without a crypto package: the venv has none and the bot verifies with node's own.

Straight from the RFC's reference code; slow (milliseconds a signature), which a test that
signs a few dozen requests does not notice. Never use it for real keys: it is not constant-time.
"""

from __future__ import annotations

import hashlib

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_GX = 15112221349535400772501151409588531511454012693041857206046113283949847762202
_GY = 46316835694926478169428394003475163141307993866256225615783033603165251855960
Point = tuple[int, int, int, int]
_BASE: Point = (_GX, _GY, 1, _GX * _GY % _P)


def _add(a: Point, b: Point) -> Point:
    """Extended twisted Edwards coordinates: the RFC's point_add."""
    p1 = (a[1] - a[0]) * (b[1] - b[0]) % _P
    p2 = (a[1] + a[0]) * (b[1] + b[0]) % _P
    c = 2 * a[3] * b[3] * _D % _P
    d = 2 * a[2] * b[2] % _P
    e, f, g, h = p2 - p1, d - c, d + c, p2 + p1
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _mul(scalar: int, point: Point) -> Point:
    result: Point = (0, 1, 1, 0)
    while scalar > 0:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    return result


def _compress(point: Point) -> bytes:
    z_inv = pow(point[2], _P - 2, _P)
    x, y = point[0] * z_inv % _P, point[1] * z_inv % _P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _hash_int(data: bytes) -> int:
    return int.from_bytes(hashlib.sha512(data).digest(), "little")


def _expand(secret: bytes) -> tuple[int, bytes]:
    digest = hashlib.sha512(secret).digest()
    scalar = int.from_bytes(digest[:32], "little")
    scalar &= (1 << 254) - 8
    scalar |= 1 << 254
    return scalar, digest[32:]


def public_key(secret: bytes) -> bytes:
    """The 32-byte public key of a 32-byte secret."""
    scalar, _ = _expand(secret)
    return _compress(_mul(scalar, _BASE))


def sign(secret: bytes, message: bytes) -> bytes:
    """The 64-byte signature of ``message``."""
    scalar, prefix = _expand(secret)
    public = _compress(_mul(scalar, _BASE))
    r = _hash_int(prefix + message) % _L
    big_r = _compress(_mul(r, _BASE))
    s = (r + _hash_int(big_r + public + message) % _L * scalar) % _L
    return big_r + s.to_bytes(32, "little")
