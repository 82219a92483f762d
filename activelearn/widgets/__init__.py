"""The notebook view: widgets that show items and collect labels, nothing else."""

from .labeling import LabelingWidget, key_map

__all__ = ["LabelingWidget", "key_map"]
