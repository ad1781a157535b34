# Verifying a Spool webhook in Python with the standard library only (the README shows this
# file; test/webhooks/python-verify.test.ts runs it against a real delivery).
import base64, hashlib, hmac, json, time


def verify(secret: str, headers: dict, body: bytes, tolerance: int = 300) -> dict:
    """Returns the event if the request is authentic and fresh; raises ValueError otherwise."""
    h = {k.lower(): v for k, v in headers.items()}
    msg_id, timestamp, signatures = h["webhook-id"], h["webhook-timestamp"], h["webhook-signature"]
    if abs(time.time() - int(timestamp)) > tolerance:
        raise ValueError("timestamp too old or too new")
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for sig in signatures.split(" "):
        version, _, value = sig.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return json.loads(body)
    raise ValueError("no matching signature")


if __name__ == "__main__":
    # Used by the test: SECRET and HEADERS (JSON) in the environment, the raw body on stdin.
    import os, sys
    event = verify(os.environ["SECRET"], json.loads(os.environ["HEADERS"]), sys.stdin.buffer.read())
    print(event["type"])
