import yaml
import yaml as pyyaml


def read_config(stream: str) -> object:
    return yaml.load(stream)  # expect: shunter.unsafe-yaml-load


def read_full(stream: str) -> object:
    return yaml.load(stream, Loader=yaml.FullLoader)  # expect: shunter.unsafe-yaml-load


def read_unsafe(stream: str) -> object:
    return pyyaml.unsafe_load(stream)  # expect: shunter.unsafe-yaml-load


def read_positional(stream: str) -> object:
    return yaml.load(stream, yaml.Loader)  # expect: shunter.unsafe-yaml-load
