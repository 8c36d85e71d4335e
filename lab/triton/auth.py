"""HTTP Signature authentication as CloudAPI does it (sdc-cloudapi lib/authorization.js and
lib/auth.js on http-signature 1.1.0): parse, check the signed headers and the clock skew, find the
account and its key by ``keyId``, verify. Error codes and messages are the vendor's (lab/TRITON.md).
"""
import base64
import email.utils
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, padding, rsa

from lab.triton.common import ApiError

CLOCK_SKEW = 300
# cloudapi lib/authorization.js OPTIONS.algorithms, less those http-signature 1.1.0 rejects
# earlier (its hash list is sha1, sha256, sha512)
ALGORITHMS = ("rsa-sha1", "rsa-sha256", "rsa-sha512", "dsa-sha1", "ecdsa-sha256", "ecdsa-sha384", "ecdsa-sha512")
PK_ALGOS = ("rsa", "dsa", "ecdsa")
HASH_ALGOS = ("sha1", "sha256", "sha512")
HASHES = {"sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}

DEF_401 = "You must make authenticated requests to use CloudAPI"
INVALID_CREDS = "Invalid authorization credentials supplied"


def invalid_header(reason):
    return ApiError(400, "InvalidHeader", "Authorization header invalid: " + reason)


def parse_params(text):
    """The parameter list of a Signature header, as http-signature's state machine reads it."""
    params, i, n = {}, 0, len(text)
    while i < n:
        j = i
        while j < n and text[j].isascii() and text[j].isalpha():
            j += 1
        name = text[i:j]
        if not name or j >= n or text[j] != "=":
            raise invalid_header("bad param format")
        j += 1
        if j < n and text[j] == '"':
            end = text.find('"', j + 1)
            if end < 0:
                raise invalid_header("bad param format")
            params[name] = text[j + 1:end]
            j = end + 1
        else:
            k = j
            while k < n and text[k].isdigit():
                k += 1
            if k == j:
                raise invalid_header("bad param format")
            params[name] = int(text[j:k])
            j = k
        if j < n:
            if text[j] != ",":
                raise invalid_header("bad param format")
            j += 1
        i = j
    return params


def load_public_key(openssh):
    return serialization.load_ssh_public_key(openssh.encode())


def verify(pub, algorithm, signing_string, signature_b64):
    kind, hname = algorithm.split("-", 1)
    try:
        sig = base64.b64decode(signature_b64, validate=False)
        data = signing_string.encode()
        h = HASHES[hname]()
        if kind == "rsa" and isinstance(pub, rsa.RSAPublicKey):
            pub.verify(sig, data, padding.PKCS1v15(), h)
        elif kind == "ecdsa" and isinstance(pub, ec.EllipticCurvePublicKey):
            pub.verify(sig, data, ec.ECDSA(h))
        elif kind == "dsa" and isinstance(pub, dsa.DSAPublicKey):
            pub.verify(sig, data, h)
        else:
            return False
        return True
    except (InvalidSignature, ValueError, TypeError):
        return False


def authenticate(world, method, raw_path, headers, now=None):
    """Return the caller's account dict, or raise ApiError as CloudAPI would."""
    authz = headers.get("authorization")
    if not authz:
        raise ApiError(401, "InvalidCredentials", DEF_401)
    scheme, sep, rest = authz.partition(" ")
    if not sep:
        raise ApiError(400, "InvalidHeader", "BasicAuth content is invalid.")
    if scheme.lower() != "signature":
        raise ApiError(401, "InvalidCredentials", DEF_401)
    params = parse_params(rest.strip())
    for name in ("keyId", "algorithm", "signature"):
        if not params.get(name):
            raise invalid_header(f"{name} was not specified")
    algorithm = str(params["algorithm"]).lower()
    parts = algorithm.split("-")
    if len(parts) != 2 or (parts[0] != "hmac" and parts[0] not in PK_ALGOS) or parts[1] not in HASH_ALGOS:
        raise invalid_header(f"{algorithm} is not supported")
    signed = str(params.get("headers") or "date").lower().split(" ")
    lines = []
    for h in signed:
        if h == "(request-target)":
            lines.append(f"(request-target): {method.lower()} {raw_path}")
        elif h == "request-line":
            lines.append(f"{method} {raw_path} HTTP/1.1")
        else:
            value = headers.get(h)
            if value is None:
                raise invalid_header(f"{h} was not in the request")
            lines.append(f"{h}: {value}")
    date = headers.get("date")
    if date is not None:
        try:
            sent = email.utils.parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            raise ApiError(400, "InvalidHeader", "Date header is invalid")
        skew = abs((now if now is not None else time.time()) - sent)
        if skew > CLOCK_SKEW:
            raise invalid_header(f"clock skew of {skew:g}s was greater than {CLOCK_SKEW}s")
    if "date" not in signed:
        raise invalid_header("date was not a signed header")
    if algorithm not in ALGORITHMS:
        raise invalid_header(f"{algorithm} is not a supported algorithm")
    key_id = str(params["keyId"])
    pieces = key_id.split("/")
    if len(pieces) == 6 and pieces[4] == "keys":
        raise ApiError(401, "InvalidCredentials", INVALID_CREDS)  # sub-users: none in the lab
    if len(pieces) != 4 or pieces[2] != "keys" or pieces[0] != "":
        raise ApiError(401, "InvalidCredentials", f"Invalid KeyId {key_id} in authorization header")
    account = world.account(pieces[1])
    if account is None:
        raise ApiError(401, "InvalidCredentials", INVALID_CREDS)
    key = next((k for k in account["keys"] if k["fingerprint"] == pieces[3] or k["name"] == pieces[3]), None)
    if key is None:
        raise ApiError(401, "InvalidCredentials", INVALID_CREDS)
    if not verify(load_public_key(key["key"]), algorithm, "\n".join(lines), params["signature"]):
        raise ApiError(401, "InvalidCredentials", INVALID_CREDS)
    return account
