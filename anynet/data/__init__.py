"""Data sets (host NumPy arrays, memory-mapped shards, image folders), loaders, and augmentation of
batches on their device."""

from . import augment
from .dataset import Batch, DataLoader, DataSet, as_dataset, train_val_split
from .folder import ImageFolder
from .idx import IDXError, read_idx
from .images import DataNotFoundError, data_search_path, fashion_mnist, mnist
from .registry import DATASETS, DataSpec, Defaults, data_spec
from .rows import Rows
from .sequences import Vocabulary, addition, dates
from .shards import ArrayFiles, ShardedRows, ShardError, write_shards
from .synthetic import linear_regression, spiral

__all__ = [
    "Batch", "DATASETS", "DataLoader", "DataNotFoundError", "DataSet", "DataSpec", "Defaults", "IDXError", "as_dataset",
    "data_search_path", "data_spec",
    "fashion_mnist", "linear_regression", "mnist", "read_idx", "spiral", "train_val_split",
    "Vocabulary", "addition", "augment", "dates",
    "ArrayFiles", "ImageFolder", "Rows", "ShardError", "ShardedRows", "write_shards",
]
