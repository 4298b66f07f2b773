"""The `mailsift` command line.

Exit codes: 0 everything done; 1 some emails failed (each one recorded in the database);
2 usage or configuration error.
"""

from mailsift.cli.app import app, main

__all__ = ["app", "main"]
