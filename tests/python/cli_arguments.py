"""The command line the Python test scripts share: the built program and a scratch folder,
parsed before unittest sees the rest."""
import argparse
import os
import tempfile


def parsed(description):
    """``(arguments, rest)``: ``arguments.cli`` (absolute: tests run in temporary directories)
    and ``arguments.workdir``; ``rest`` goes to unittest."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--cli", required=True, help="the guidance binary")
    parser.add_argument("--workdir", default=tempfile.gettempdir(),
                        help="where the test's temporary directory goes")
    arguments, rest = parser.parse_known_args()
    arguments.cli = os.path.abspath(arguments.cli)
    return arguments, rest
