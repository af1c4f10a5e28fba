"""Ctrl-C during fit keeps the last complete parameters, flagged not converged."""

from __future__ import annotations

import numpy as np
import pytest

from gaussmix import GaussianMixture
from gaussmix.datasets import load_old_faithful
from gaussmix.em import EMInterrupted


def _interrupt_at(iteration: int):
    def callback(info):
        if info.iteration == iteration:
            raise KeyboardInterrupt

    return callback


def test_interrupt_keeps_the_parameters_reached():
    X = load_old_faithful().data
    settings = {"n_components": 3, "random_state": 0, "tol": 0.0}
    interrupted = GaussianMixture(**settings, callback=_interrupt_at(4))
    with pytest.raises(KeyboardInterrupt) as caught:
        interrupted.fit(X)
    assert isinstance(caught.value, EMInterrupted)
    # Independent path to the same parameters: the same start, stopped by max_iter. A
    # callback keeps its EM loop in Python as well (without one, small data run the
    # compiled loop, equal to rounding only: tests/test_compiled_em.py).
    with pytest.warns(UserWarning):
        reference = GaussianMixture(**settings, max_iter=4, callback=lambda info: None).fit(X)
    assert interrupted.converged_ is False
    assert interrupted.n_iter_ == 4
    np.testing.assert_array_equal(interrupted.means_, reference.means_)
    np.testing.assert_array_equal(interrupted.covariances_, reference.covariances_)
    assert interrupted.log_likelihood_ == reference.log_likelihood_
    np.testing.assert_array_equal(interrupted.predict(X), reference.predict(X))


def test_interrupt_in_a_later_start_keeps_the_better_one():
    X = load_old_faithful().data
    calls = []

    def callback(info):
        calls.append(info.init)
        if info.init == 1 and info.iteration == 1:
            raise KeyboardInterrupt

    model = GaussianMixture(2, n_init=3, random_state=0, callback=callback)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X)
    first = GaussianMixture(2, n_init=1, random_state=0).fit(X)
    # The first start finished and is far better than one iteration of the second.
    np.testing.assert_array_equal(model.means_, first.means_)
    assert model.converged_ is False
    assert max(calls) == 1
