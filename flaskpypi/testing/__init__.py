"""Test suites flaskpypi ships for plugin authors (they need pytest): `storage_contract.StorageContract` and
`auth_contract.AuthContract`."""
