"""The bits of the JavaScript runtime the GUI's batch generators rely on, in Python.

The workflow editor expands generator nodes in the browser; to send the same items,
these reproduce `parseInt`/`parseFloat`, `String.prototype.trim`, `Math.round`,
`JSON.stringify`'s numbers, and the npm `mtwist` Mersenne Twister.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Callable

from .._exceptions import ValidationError

# String.prototype.trim's WhiteSpace + LineTerminator (Python's str.strip() differs).
_WHITESPACE = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_INT_PREFIX = re.compile(r"[+-]?[0-9]+")
_FLOAT_PREFIX = re.compile(r"[+-]?(?:Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)")


def parse_int(text: str) -> int | None:
    """`parseInt(text)` (base 10); None where JavaScript gives NaN."""
    match = _INT_PREFIX.match(text.strip(_WHITESPACE))
    return int(match.group()) if match is not None else None


def parse_float(text: str) -> float | None:
    """`parseFloat(text)`; None where JavaScript gives NaN (Infinity stays infinite)."""
    match = _FLOAT_PREFIX.match(text.strip(_WHITESPACE))
    return float(match.group().replace("Infinity", "inf")) if match is not None else None


def number(value: float) -> int | float:
    """A number as `JSON.stringify` writes it: a whole float is an integer; NaN/Infinity refused."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError(f"{value} cannot be sent to the server")
    return int(value) if isinstance(value, float) and value.is_integer() else value


def math_round(value: float) -> int:
    """`Math.round`: halves go up (towards +infinity), unlike Python's `round`."""
    floor = math.floor(value)
    return floor + 1 if value - floor >= 0.5 else floor


def random_source(seed: int | None) -> Callable[[], float]:
    """The GUI's random numbers in [0, 1): `mtwist` seeded with `seed`, or `Math.random` without one."""
    if seed is None:
        return random.random  # a new sequence every time, as Math.random
    return MersenneTwister(seed).random


def split(text: str, split_on: str) -> list[str]:
    """The GUI's split: `splitOn` is read as a JSON string body (so ``\\n`` is a newline) if it can be."""
    if split_on == "":
        return [text]
    try:
        separator = json.loads(f'"{split_on}"')
    except ValueError:
        separator = split_on
    return text.split(separator)


class MersenneTwister:
    """The Mersenne Twister as npm `mtwist` runs it: `init_genrand` seeding, ``uint32 / 2**32``.

    Python's `random.Random` seeds MT19937 differently, so it cannot reproduce the GUI.
    """

    def __init__(self, seed: int) -> None:
        mt = [seed & 0xFFFFFFFF]  # the GUI's `seed >>> 0`
        for i in range(1, 624):
            prev = mt[i - 1]
            mt.append((1812433253 * (prev ^ (prev >> 30)) + i) & 0xFFFFFFFF)
        self._mt = mt
        self._index = 624

    def _twist(self) -> None:
        mt = self._mt
        for i in range(624):
            y = (mt[i] & 0x80000000) | (mt[(i + 1) % 624] & 0x7FFFFFFF)
            mt[i] = mt[(i + 397) % 624] ^ (y >> 1) ^ (0x9908B0DF if y & 1 else 0)
        self._index = 0

    def uint32(self) -> int:
        if self._index >= 624:
            self._twist()
        y = self._mt[self._index]
        self._index += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C5680
        y ^= (y << 15) & 0xEFC60000
        y ^= y >> 18
        return y

    def random(self) -> float:
        return self.uint32() / 4294967296
