import ssl
from ssl import CERT_NONE

import httpx
import requests


def fetch(url: str) -> bytes:
    return requests.get(url, timeout=5, verify=False).content  # expect: shunter.tls-verification-disabled


def client() -> httpx.Client:
    return httpx.Client(verify=False)  # expect: shunter.tls-verification-disabled


def context() -> ssl.SSLContext:
    return ssl._create_unverified_context()  # expect: shunter.tls-verification-disabled


def lax(ctx: ssl.SSLContext) -> None:
    ctx.verify_mode = CERT_NONE  # expect: shunter.tls-verification-disabled
