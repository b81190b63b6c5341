"""flatsearch: exact vector search for heavily filtered, constantly changing collections.

Example:
    >>> import torch, flatsearch as fs
    >>> index = fs.Index(3, metric="cosine", attributes={"remote": "bool"})
    >>> index.add([1, 2, 3], torch.eye(3), attributes={"remote": [True, False, True]})
    >>> index.search(torch.tensor([1.0, 1.0, 0.0]), 2, filter=fs.col("remote") == True).ids.tolist()
    [[1, 3]]
"""
from .checks import set_limits
from .filters import Filter, col
from .index import Index, Rows, default_dtype
from .results import SearchResult, merge_results
from .sharded import ShardedIndex

__all__ = ["Index", "Rows", "SearchResult", "ShardedIndex", "Filter", "col", "merge_results", "default_dtype",
           "set_limits"]
__version__ = "0.1.0"
