"""Schemathesis hooks for scripts/api-fuzz: sign the Twilio webhook routes.

Requests to /twilio/* get an X-Twilio-Signature computed by Twilio's own library
(twilio-python's RequestValidator) with the demo tenant's auth token
(COMMS_FUZZ_TWILIO_TOKEN), over the exact URL and form body that are sent, so the
fuzzer reaches the handlers behind the signature check. Other routes pass unchanged
(their keys come from the command line).
"""
import os
from urllib.parse import urlencode

import schemathesis
from twilio.request_validator import RequestValidator

TOKEN = os.environ["COMMS_FUZZ_TWILIO_TOKEN"]
BASE = os.environ["COMMS_FUZZ_BASE_URL"].rstrip("/")


class _Pairs:
    """A form with repeated names kept, the shape RequestValidator reads (getall)."""

    def __init__(self, pairs):
        self.pairs = pairs

    def __iter__(self):
        return iter([n for n, _ in self.pairs])

    def __bool__(self):
        return bool(self.pairs)

    def getall(self, name):
        return [v for n, v in self.pairs if n == name]


def _pairs(value):
    if value is None:
        return []
    if isinstance(value, dict):
        out = []
        for k, v in value.items():
            for item in v if isinstance(v, list) else [v]:
                out.append((str(k), "" if item is None else str(item)))
        return out
    return list(value)


@schemathesis.hook
def process_call_kwargs(context, case, kwargs):
    if not case.path.startswith("/twilio/"):
        return
    query = _pairs(kwargs.pop("params", None))
    url = BASE + case.formatted_path + ("?" + urlencode(query) if query else "")
    kwargs["url"] = url
    # The form is encoded here, so the bytes signed are the bytes sent.
    form = _pairs(case.body) if isinstance(case.body, dict) else []
    for key in ("json", "files"):
        kwargs.pop(key, None)
    kwargs["data"] = urlencode(form)
    # A copy: the headers given on the command line are shared by every call.
    headers = dict(kwargs.get("headers") or {})
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    headers["X-Twilio-Signature"] = RequestValidator(TOKEN).compute_signature(url, _Pairs(form))
    kwargs["headers"] = headers
