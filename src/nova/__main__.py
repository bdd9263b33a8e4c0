"""``python -m nova`` runs the ``nova`` command."""

from nova.cli import main

if __name__ == "__main__":
    main()
