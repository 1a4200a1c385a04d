"""Label-free convergence check: does a trial's loss, or its ACC where labels exist, still move at its end?

"Moves" is measured on the last ``WINDOW_FRACTION`` of the trial's epochs (at least ``MIN_WINDOW`` epochs): the
least-squares line through the window gives the drift ``|slope| x (last epoch - first epoch of the window)``, which
a noisy but flat curve keeps near zero while a curve that still climbs or falls does not. The drift is compared
with a tolerance on the quantity's own scale:

- ACC (a fraction): ``ACC_TOLERANCE`` = 0.01, one percentage point over the window;
- loss (no fixed scale, may be negative): ``LOSS_TOLERANCE`` = 5% of the range the loss covered over the whole
  trial, and at least 0.1% of its final magnitude, so that a loss that is flat from the start is not judged by its
  noise. On an exponential approach ``exp(-t / tau)`` the 5% rule flags runs shorter than about 3 ``tau``.

A drift above the tolerance counts only when the trend is also distinguishable from the curve's noise: its slope
is significant at the ``SIGNIFICANCE`` level (two-sided t-test of the least-squares slope, window - 2 degrees of
freedom). Without that test a flat but noisy loss (CDC's moves by +-0.05 around a level on a 0.75 range) was
marked on its 4-epoch window as often as not.

A trial with fewer than ``MIN_WINDOW`` logged epochs cannot be judged and counts as converged.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

WINDOW_FRACTION = 0.2
MIN_WINDOW = 3
ACC_TOLERANCE = 0.01
LOSS_TOLERANCE = 0.05
LOSS_FLOOR = 1e-3
SIGNIFICANCE = 0.05
CHECKED_METRICS = ("loss", "acc")


def window_trend(values: pd.Series) -> tuple[float, float]:
    """``(|slope| x span, p-value of the slope)`` of the least-squares line through the last ``WINDOW_FRACTION`` of
    ``values`` (indexed by epoch, NaN dropped); ``(nan, nan)`` when fewer than ``MIN_WINDOW`` epochs were logged."""
    values = values.dropna().sort_index()
    size = max(MIN_WINDOW, math.ceil(WINDOW_FRACTION * len(values)))
    if len(values) < size:
        return math.nan, math.nan
    window = values.iloc[-size:]
    epochs = window.index.to_numpy(dtype=float)
    fit = stats.linregress(epochs, window.to_numpy(dtype=float))
    p_value = 0.0 if np.isnan(fit.pvalue) else fit.pvalue  # an exact line (zero residuals) has no noise to hide in
    return float(abs(fit.slope) * (epochs[-1] - epochs[0])), float(p_value)


def still_moving(values: pd.Series, metric: str) -> bool:
    """Whether the per-epoch ``values`` of ``metric`` (``loss`` or ``acc``) still drift at the end of the trial."""
    drift, p_value = window_trend(values)
    if math.isnan(drift) or p_value >= SIGNIFICANCE:
        return False
    if metric == "acc":
        return bool(drift > ACC_TOLERANCE)
    present = values.dropna()
    tolerance = max(LOSS_TOLERANCE * (present.max() - present.min()), LOSS_FLOOR * abs(present.iloc[-1]))
    return bool(drift > tolerance)


def not_converged(history: pd.DataFrame) -> bool:
    """Whether one trial's history (a row per epoch: ``epoch`` and metric columns) has a checked metric still
    moving; ``acc`` is checked only where it was logged (labels exist)."""
    by_epoch = history.set_index("epoch")
    return any(still_moving(by_epoch[m], m) for m in CHECKED_METRICS if m in by_epoch and by_epoch[m].notna().any())
