"""`python -m apim` is the `apim` command."""

from apim.cli import main

main()
