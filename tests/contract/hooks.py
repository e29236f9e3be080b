"""Schemathesis hooks for Rampart's contract run (loaded through SCHEMATHESIS_HOOKS).

Every generated request is sent with a bearer token of the account named by RAMPART_CONTRACT_LOGIN.
The token comes from a real sign-in and is fetched again after any 401: the run itself may end the
session (logout, logout-all, a revoked device), and the next case should still be signed in.
"""

import os

import requests
import schemathesis

BASE = os.environ["RAMPART_CONTRACT_BASE"]
LOGIN = os.environ["RAMPART_CONTRACT_LOGIN"]
PASSWORD = os.environ["RAMPART_CONTRACT_PASSWORD"]


@schemathesis.auth(refresh_interval=600)
class SignedIn:
    def get(self, case, ctx):
        answer = requests.post(
            f"{BASE}/api/v1/auth/login",
            json={"login": LOGIN, "password": PASSWORD},
            timeout=30,
        )
        answer.raise_for_status()
        return answer.json()["access_token"]

    def set(self, case, token, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {token}"
