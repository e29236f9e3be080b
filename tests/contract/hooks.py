"""Schemathesis hooks for Rampart's contract run (loaded through SCHEMATHESIS_HOOKS).

Every generated request is sent with a bearer token of the account named by RAMPART_CONTRACT_LOGIN.
The token comes from a real sign-in and is fetched again after any 401: the run itself may end the
session (logout, logout-all, a revoked device), and the next case should still be signed in.
"""

import os
import re
import uuid

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
        if answer.status_code != 200:
            # Shown in the run's report: why the run's own sign-in failed.
            raise RuntimeError(f"sign-in answered {answer.status_code}: {answer.text[:300]}")
        return answer.json()["access_token"]

    def set(self, case, token, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {token}"
        fresh_idempotency_key(case.headers)


VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def fresh_idempotency_key(headers):
    """Gives a well-formed Idempotency-Key a value of its own.

    Hypothesis draws the same few keys again and again, and a repeated key with the same body is a
    retry: Rampart answers it with the first response (201 and the first post's id), even when that
    post was deleted meanwhile, which is what idempotency promises. The stateful phase would take such
    a replay for a new post and report it missing. Malformed keys are left as drawn, to keep testing
    the 400 they get.
    """
    for name in list(headers):
        if name.lower() == "idempotency-key" and VALID_KEY.match(str(headers[name])):
            headers[name] = uuid.uuid4().hex

