"""The storage contract suite (flaskpypi.testing.storage_contract) on memory, file, S3, GCS and Azure Blob."""

from __future__ import annotations

from flaskpypi.testing.storage_contract import StorageContract


class TestStorageContract(StorageContract):
    """One suite, parametrised over every backend by the `storage` fixture in conftest.py."""
