import hashlib


def store(password: str) -> str:
    return hashlib.md5(password.encode()).hexdigest()  # expect: shunter.weak-password-hash


def check(user_pwd: bytes, stored: str) -> bool:
    return hashlib.sha1(user_pwd).hexdigest() == stored  # expect: shunter.weak-password-hash


def generic(passwd: bytes) -> str:
    return hashlib.new("md5", passwd).hexdigest()  # expect: shunter.weak-password-hash
