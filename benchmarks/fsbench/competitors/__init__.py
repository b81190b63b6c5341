"""One adapter per library under test, all with the :class:`~fsbench.competitors.base.Adapter` shape."""
from fsbench.competitors.base import Adapter, FilterSpec, Rows, format_setting

__all__ = ["Adapter", "FilterSpec", "Rows", "format_setting"]
