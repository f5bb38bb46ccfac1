import ast


def calculate(expression: str) -> object:
    return ast.literal_eval(expression)


def constant() -> object:
    return eval("1 + 1")
