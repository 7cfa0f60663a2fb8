#!/usr/bin/env python3
"""Adds Twilio signature vectors computed by Twilio's own library to
samples/twilio-signature-vectors.json (idempotent: vectors are replaced by name).

Run once with the official package installed, e.g.
  python3 -m venv .tools/schemathesis && .tools/schemathesis/bin/pip install twilio
  .tools/schemathesis/bin/python scripts/signature-vectors.py
The Rust tests read the file; they never run this script.
"""
import json
import pathlib

import twilio
from twilio.request_validator import RequestValidator


class MultiDict:
    """The shape of a framework's form (Flask's MultiDict): repeated names kept."""

    def __init__(self, pairs):
        self.pairs = pairs

    def __iter__(self):
        return iter([name for name, _ in self.pairs])

    def __bool__(self):
        return bool(self.pairs)

    def getall(self, name):
        return [v for n, v in self.pairs if n == name]


NEW = [
    ("repeated-identical-values", [("X", "a"), ("X", "a")],
     "a repeated name with the same value twice is signed once (the library signs each distinct value)"),
    ("repeated-unsorted-duplicates", [("X", "b"), ("X", "a"), ("X", "b")],
     "distinct values of a repeated name, sorted: Xa then Xb, each once"),
    ("repeated-mixed", [("To", "+18005551212"), ("MediaUrl", "https://x/2"), ("MediaUrl", "https://x/1"),
                        ("MediaUrl", "https://x/2"), ("Body", "")],
     "names sorted, then the distinct values of each name sorted; an empty value is signed as name alone"),
]


def main():
    path = pathlib.Path(__file__).resolve().parent.parent / "samples" / "twilio-signature-vectors.json"
    doc = json.loads(path.read_text())
    token, url = "12345", "https://mycompany.com/myapp.php?foo=1&bar=2"
    validator = RequestValidator(token)
    names = {name for name, _, _ in NEW}
    doc["vectors"] = [v for v in doc["vectors"] if v["name"] not in names]
    for name, pairs, note in NEW:
        signature = validator.compute_signature(url, MultiDict(pairs))
        assert validator.validate(url, MultiDict(pairs), signature)
        doc["vectors"].append({"name": name, "auth_token": token, "url": url,
                               "params": [list(p) for p in pairs], "signature": signature,
                               "note": note + f"; computed with twilio {twilio.__version__} RequestValidator by scripts/signature-vectors.py"})
    doc["algorithm"] = ("base64(HMAC-SHA1(auth_token, url + name+value for every distinct (name, value) "
                        "POST parameter, sorted by name then value))")
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
