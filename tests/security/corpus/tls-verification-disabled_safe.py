import ssl

import requests


def fetch(url: str) -> bytes:
    return requests.get(url, timeout=5, verify=True).content


def context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx
