import yaml


def read_config(stream: str) -> object:
    return yaml.safe_load(stream)


def read_explicit(stream: str) -> object:
    return yaml.load(stream, Loader=yaml.SafeLoader)


def read_positional(stream: str) -> object:
    return yaml.load(stream, yaml.CSafeLoader)
