"""``python -m jobshadow`` — same as the ``jobshadow`` command."""

from jobshadow.cli.main import main

main()
