import os
import subprocess
from subprocess import Popen


def grep(pattern: str) -> bytes:
    return subprocess.check_output("grep -r " + pattern, shell=True)  # expect: shunter.subprocess-shell-injection


def run(cmd: str) -> None:
    subprocess.run(cmd, shell=True, check=True)  # expect: shunter.subprocess-shell-injection


def spawn(name: str) -> None:
    Popen(f"echo {name}", shell=True)  # expect: shunter.subprocess-shell-injection


def legacy(path: str) -> int:
    return os.system("rm -rf " + path)  # expect: shunter.subprocess-shell-injection
