import os
import tempfile
from tempfile import mktemp


def scratch() -> str:
    path = tempfile.mktemp(suffix=".txt")  # expect: shunter.insecure-mktemp
    with open(path, "w") as handle:
        handle.write(os.getcwd())
    return path


def other() -> str:
    return mktemp()  # expect: shunter.insecure-mktemp
