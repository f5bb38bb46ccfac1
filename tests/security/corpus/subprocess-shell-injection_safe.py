import os
import subprocess


def grep(pattern: str) -> bytes:
    return subprocess.check_output(["grep", "-r", pattern])


def fixed() -> None:
    subprocess.run("ls -l | wc -l", shell=True, check=True)


def legacy() -> int:
    return os.system("true")
