"""Runs: the epoch store (every saved epoch of every ensemble member) and ``analyze``, which streams a run
through the registered metrics into Parquet tables."""
from .pipeline import Analysis, analyze
from .store import EpochStore

__all__ = ["Analysis", "EpochStore", "analyze"]
