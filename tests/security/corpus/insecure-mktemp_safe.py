import os
import tempfile


def scratch() -> str:
    fd, path = tempfile.mkstemp(suffix=".txt")
    os.close(fd)
    return path
