"""Test suites flaskpypi ships for plugin authors: `storage_contract.StorageContract` (needs pytest)."""
