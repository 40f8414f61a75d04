"""Data sets (host NumPy arrays), loaders, and augmentation of batches on their device."""

from . import augment
from .dataset import Batch, DataLoader, DataSet, as_dataset, train_val_split
from .idx import IDXError, read_idx
from .images import DataNotFoundError, data_search_path, fashion_mnist, mnist
from .sequences import Vocabulary, addition, dates
from .synthetic import linear_regression, spiral

__all__ = [
    "Batch", "DataLoader", "DataNotFoundError", "DataSet", "IDXError", "as_dataset", "data_search_path",
    "fashion_mnist", "linear_regression", "mnist", "read_idx", "spiral", "train_val_split",
    "Vocabulary", "addition", "augment", "dates",
]
