import _pickle as cpickle
import marshal
import pickle
import shelve
from pickle import loads as unpickle


def load_session(blob: bytes) -> object:
    return pickle.loads(blob)  # expect: shunter.unsafe-deserialisation


def load_cached(path: str) -> object:
    with open(path, "rb") as handle:
        return pickle.load(handle)  # expect: shunter.unsafe-deserialisation


def load_code(blob: bytes) -> object:
    return marshal.loads(blob)  # expect: shunter.unsafe-deserialisation


def aliased(blob: bytes) -> object:
    return unpickle(blob)  # expect: shunter.unsafe-deserialisation


def c_impl(blob: bytes) -> object:
    return cpickle.loads(blob)  # expect: shunter.unsafe-deserialisation


def open_db(path: str) -> object:
    return shelve.open(path)  # expect: shunter.unsafe-deserialisation
