"""``python -m cellscale`` runs the command-line interface."""

from cellscale.cli import main

if __name__ == "__main__":
    main()
