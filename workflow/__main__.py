"""Run the command line as ``python -m workflow``."""

from workflow.cli.main import main

main()
