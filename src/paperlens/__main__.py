"""``python -m paperlens``: the ``paperlens`` command (what ``paperlens demo`` starts its
background ``index`` with, so it needs no console script on the PATH)."""

from paperlens.cli.main import run

if __name__ == "__main__":
    run()
