import math

import pytest

from sslcli.engine.schedule import warmup_cosine


def test_linear_warmup_then_cosine_to_zero():
    base, total, warmup = 0.4, 110, 10
    assert warmup_cosine(0, total, warmup, base) == pytest.approx(base / 10)
    assert warmup_cosine(9, total, warmup, base) == pytest.approx(base)
    assert warmup_cosine(10, total, warmup, base) == pytest.approx(base)
    assert warmup_cosine(60, total, warmup, base) == pytest.approx(base / 2)  # half-way through the cosine
    assert warmup_cosine(35, total, warmup, base) == pytest.approx(base * 0.5 * (1 + math.cos(math.pi / 4)))
    assert warmup_cosine(110, total, warmup, base) == pytest.approx(0.0)


def test_no_warmup_starts_at_the_base_rate():
    assert warmup_cosine(0, 50, 0, 1.0) == pytest.approx(1.0)
