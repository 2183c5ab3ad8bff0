"""Corpora, tokenizers, and packing into fixed-length contexts."""

from monoscope.data.builtin import builtin_documents
from monoscope.data.corpus import Document, load_corpus
from monoscope.data.dataset import DataConfig, Dataset, TokenSplit, build_dataset
from monoscope.data.tokenizer import load_tokenizer, train_tokenizer

__all__ = [
    "Document",
    "builtin_documents",
    "load_corpus",
    "DataConfig",
    "Dataset",
    "TokenSplit",
    "build_dataset",
    "load_tokenizer",
    "train_tokenizer",
]
