"""``jouleflow.torch``: PyTorch integration (``pip install 'jouleflow[torch]'``)."""

from __future__ import annotations

from jouleflow.integrations.pytorch import LAYER_METHOD, LayerEnergy, Watcher, watch

__all__ = ["LAYER_METHOD", "LayerEnergy", "Watcher", "watch"]
