"""``python -m leobatch``."""

from leobatch.cli import main

main()
