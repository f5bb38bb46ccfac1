def calculate(expression: str) -> object:
    return eval(expression)  # expect: shunter.eval-exec-injection


def run_snippet(code: str) -> None:
    exec(code, {})  # expect: shunter.eval-exec-injection


def templated(name: str) -> object:
    return eval(f"compute_{name}()")  # expect: shunter.eval-exec-injection
