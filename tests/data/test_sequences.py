"""The book's sequence tasks (anynet.data.sequences): addition and date conversion, generated."""

from __future__ import annotations

import datetime

import numpy as np
import pytest

from anynet.data import Vocabulary, addition, dates


def test_addition_data():
    x, t, vocab = addition(500, seed=3)
    assert x.shape == (500, 7) and t.shape == (500, 5) and x.dtype == np.int64
    questions, answers = vocab.decode(x), vocab.decode(t)
    assert len(set(questions)) == 500
    for q, a in zip(questions, answers):
        left, right = q.strip().split("+")
        assert a.startswith("_") and int(a[1:]) == int(left) + int(right)
    x2, t2, _ = addition(500, seed=3)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(t, t2)
    assert vocab.decode(vocab.encode(["16+75"], 7)) == ["16+75  "]


def test_date_data():
    x, t, vocab = dates(3000, seed=5)
    assert x.shape == (3000, 29) and t.shape == (3000, 11)
    questions, answers = vocab.decode(x), vocab.decode(t)
    assert len(set(questions)) == 3000
    months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    forms = set()
    for q, a in zip(questions, answers):
        d = datetime.date.fromisoformat(a[1:])
        assert 1950 <= d.year <= 2049 and a[0] == "_"
        q = q.strip()
        if "/" in q:
            m, day, y = q.split("/")
            assert (int(m), int(day)) == (d.month, d.day) and int(y) % 100 == d.year % 100
            forms.add("slash")
        elif "." in q:
            day, m, y = q.split(".")
            assert (int(day), int(m), int(y)) == (d.day, d.month, d.year)
            forms.add("dot")
        else:
            assert str(d.year) in q and str(d.day) in q and months[d.month - 1] in q.lower()
            forms.add("upper" if q.isupper() else "lower" if q.islower() else "title")
            if "," in q.split(" ")[0]:
                assert q.split(",")[0].lower() == d.strftime("%A").lower()
    assert forms == {"slash", "dot", "upper", "lower", "title"}
    np.testing.assert_array_equal(dates(3000, seed=5)[0], x)
    assert not np.array_equal(dates(3000, seed=6)[0], x)
    with pytest.raises(ValueError, match="dates: years must span"):
        dates(10, years=(1900, 2049))


def test_vocabulary():
    vocab = Vocabulary("ab _")
    np.testing.assert_array_equal(vocab.encode(["ab", "b"], 3), [[0, 1, 2], [1, 2, 2]])
    assert vocab.decode(np.array([[3, 0, 2]])) == ["_a "] and len(vocab) == 4 and vocab["_"] == 3
    with pytest.raises(ValueError, match="Vocabulary: 'abab' is longer than 3 characters"):
        vocab.encode(["abab"], 3)
    with pytest.raises(ValueError, match=r"outside the vocabulary: \['c'\]"):
        vocab.encode(["ac"], 3)
    with pytest.raises(ValueError, match="Vocabulary: characters repeat"):
        Vocabulary("aba")
    with pytest.raises(ValueError, match="addition: asked for 200 distinct questions, only 100 exist"):
        addition(200, digits=1)
