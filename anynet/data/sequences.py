"""The book's sequence-to-sequence tasks (volume 2, chapters 7 and 8), generated: nothing to download.

``addition``: "16+75" -> "91"; ``dates``: "Tuesday, September 27, 1994", "9/27/94", ... -> "1994-09-27".
Each returns host int64 arrays of character ids and the ``Vocabulary`` that reads them. The
questions are distinct, so any split of the rows holds out questions never seen in training.
"""

from __future__ import annotations

import datetime
import string
from typing import Iterable

import numpy as np

__all__ = ["Vocabulary", "addition", "dates"]

START = "_"  # the book's start-of-answer character


class Vocabulary:
    """Characters <-> ids, in the order given (id = position in ``chars``)."""

    def __init__(self, chars: str):
        if len(set(chars)) != len(chars):
            raise ValueError(f"Vocabulary: characters repeat in {chars!r}")
        self.chars = chars
        self.ids = {c: i for i, c in enumerate(chars)}

    def __len__(self) -> int:
        return len(self.chars)

    def __getitem__(self, char: str) -> int:
        return self.ids[char]

    def encode(self, texts: Iterable[str], length: int) -> np.ndarray:
        """Texts -> ids (len(texts), length) int64, each text padded on the right with spaces."""
        rows = []
        for text in texts:
            if len(text) > length:
                raise ValueError(f"Vocabulary: {text!r} is longer than {length} characters")
            unknown = set(text) - set(self.ids)
            if unknown:
                raise ValueError(f"Vocabulary: {text!r} holds characters outside the vocabulary: {sorted(unknown)}")
            rows.append([self.ids[c] for c in text.ljust(length)])
        return np.array(rows, dtype=np.int64).reshape(-1, length)

    def decode(self, ids: np.ndarray) -> list[str]:
        """ids (N, T) -> N strings (padding kept; strip them to compare)."""
        return ["".join(self.chars[int(i)] for i in row) for row in np.asarray(ids).reshape(len(ids), -1)]

    def __repr__(self) -> str:
        return f"Vocabulary({self.chars!r})"


def _distinct(n: int, draw, rng: np.random.Generator, room: int, where: str) -> list[tuple[str, str]]:
    if n > room:
        raise ValueError(f"{where}: asked for {n} distinct questions, only {room} exist")
    seen: dict[str, str] = {}
    while len(seen) < n:
        question, answer = draw(rng)
        seen.setdefault(question, answer)
    return list(seen.items())


def addition(n: int = 50000, digits: int = 3, seed: int = 1984) -> tuple[np.ndarray, np.ndarray, Vocabulary]:
    """``n`` distinct sums of two numbers of up to ``digits`` digits, in the book's format.

    x (n, 2 * digits + 1): "16+75" padded with spaces; t (n, digits + 2): "_91" padded,
    "_" the start character (feed t[:, :-1] to the decoder, score against t[:, 1:]).
    Vocabulary "0123456789+ _".
    """
    top = 10 ** digits

    def draw(rng):
        a, b = (int(v) for v in rng.integers(0, top, 2))
        return f"{a}+{b}", f"{START}{a + b}"

    pairs = _distinct(n, draw, np.random.default_rng(seed), top * top, "addition")
    vocab = Vocabulary("0123456789+ " + START)
    x = vocab.encode([q for q, _ in pairs], 2 * digits + 1)
    t = vocab.encode([a for _, a in pairs], digits + 2)
    return x, t, vocab


_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _date_formats(d: datetime.date) -> list[str]:
    """The ways a person writes ``d`` (the book's date.txt mixes such formats)."""
    month, day = _MONTHS[d.month - 1], _DAYS[d.weekday()]
    y, yy, m, dd = d.year, d.year % 100, d.month, d.day
    out = []
    for case in (str.lower, str.title, str.upper):
        out += [case(f"{month} {dd}, {y}"), case(f"{month[:3]} {dd}, {y}"), case(f"{dd} {month} {y}"),
                case(f"{day}, {month} {dd}, {y}")]
    out += [f"{m}/{dd}/{yy:02d}", f"{m:02d}/{dd:02d}/{y}", f"{dd}.{m}.{y}", f"{dd:02d}.{m:02d}.{y}",
            f"{dd} {month[:3]} {y}"]
    return out


def dates(n: int = 50000, seed: int = 1984, years: tuple[int, int] = (1950, 2049)) -> tuple[
        np.ndarray, np.ndarray, Vocabulary]:
    """``n`` distinct dates in varied human formats -> ISO "YYYY-MM-DD", the book's date conversion.

    Dates are uniform over ``years`` (inclusive; at most 100 years, so that two-digit years
    like "9/27/94" have one reading), written in one of 17 formats drawn at random
    ("september 27, 1994", "SEP 27, 1994", "Tuesday, September 27, 1994", "9/27/94",
    "27.09.1994", ...). x (n, 29): the question padded with spaces; t (n, 11): "_1994-09-27".
    Vocabulary: space, "_", "-,./", digits, letters.
    """
    first, last = years
    if last - first >= 100 or first > last:
        raise ValueError(f"dates: years must span 1 to 100 years, got {years}")
    start = datetime.date(first, 1, 1).toordinal()
    days = datetime.date(last, 12, 31).toordinal() - start + 1

    def draw(rng):
        d = datetime.date.fromordinal(start + int(rng.integers(days)))
        forms = _date_formats(d)
        return forms[int(rng.integers(len(forms)))], f"{START}{d.isoformat()}"

    pairs = _distinct(n, draw, np.random.default_rng(seed), days * 17 // 2, "dates")
    vocab = Vocabulary(" " + START + "-,./" + string.digits + string.ascii_letters)
    return vocab.encode([q for q, _ in pairs], 29), vocab.encode([a for _, a in pairs], 11), vocab
