"""`python -m shared_record_sandbox serve|reset|env` (see runner.py and docs/sandbox.md)."""

from __future__ import annotations

import sys

from shared_record_sandbox.runner import main

if __name__ == "__main__":
    sys.exit(main())
