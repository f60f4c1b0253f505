"""``python -m unifs.testing.oci_server``: run the server in the foreground (see ``--help``)."""

from unifs.testing.oci_server.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
