"""`python -m app <command>`: the command line (cli.py). The app factory itself
(`app/factory.py`) never imports the CLI, so the CLI may import it."""

from cli import main

main()
