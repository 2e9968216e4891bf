"""Kept for old imports and saved models: the metric-space encoder lives in ``jointspace.encoders.metric_space``."""

from jointspace.encoders.metric_space import SPACES, SpaceEncoder, fit_nca

__all__ = ["SPACES", "SpaceEncoder", "fit_nca"]
