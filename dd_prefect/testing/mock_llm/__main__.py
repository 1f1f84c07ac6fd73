"""``python -m dd_prefect.testing.mock_llm``: serve the mock until SIGINT/SIGTERM."""

from .cli import main

raise SystemExit(main())
