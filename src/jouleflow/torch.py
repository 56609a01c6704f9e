"""``jouleflow.torch``: PyTorch integration (``pip install 'jouleflow[torch]'``)."""

from __future__ import annotations

from jouleflow.attribution.forecast import Budget, BudgetExceeded, Forecast
from jouleflow.integrations.pytorch import LAYER_METHOD, Watcher, watch

__all__ = ["LAYER_METHOD", "Budget", "BudgetExceeded", "Forecast", "Watcher", "watch"]
