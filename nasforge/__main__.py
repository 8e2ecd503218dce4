"""``python -m nasforge`` runs the command line."""

from nasforge.cli import main

main()
