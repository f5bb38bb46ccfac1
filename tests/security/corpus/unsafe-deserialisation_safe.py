import json
import pickle


def load_session(blob: bytes) -> object:
    return json.loads(blob)


def save(obj: object) -> bytes:
    return pickle.dumps(obj)


def test_config_pickle_protocol(config: object, protocol: int) -> None:
    # Sphinx 7.3's tests/test_config/test_config.py: a round trip loads what it just dumped
    pickled_config = pickle.loads(pickle.dumps(config, protocol))
    assert repr(config) == repr(pickled_config)
