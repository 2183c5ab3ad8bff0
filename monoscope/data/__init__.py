"""Corpora, tokenizers, and packing into fixed-length contexts."""

from monoscope.data.corpus import DOMAINS, Document, builtin_corpus, load_corpus
from monoscope.data.dataset import DataConfig, Dataset, TokenSplit, build_dataset
from monoscope.data.tokenizer import load_tokenizer, train_tokenizer

__all__ = [
    "DOMAINS",
    "Document",
    "builtin_corpus",
    "load_corpus",
    "DataConfig",
    "Dataset",
    "TokenSplit",
    "build_dataset",
    "load_tokenizer",
    "train_tokenizer",
]
