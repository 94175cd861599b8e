"""The domain of a package index, with no web framework: names, files, metadata, hashes and upload rules."""
