"""The index: SQL tables that cache what storage holds, and the service that keeps both in step."""
