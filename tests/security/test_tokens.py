from __future__ import annotations

import base64
import hashlib
import hmac
import json

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tollway.security.tokens import (
    SigningKeyPair,
    TokenVerifier,
    generate_client_credentials,
    generate_signing_key,
    hash_client_secret,
    issue_access_token,
    verify_client_secret,
)

NOW = 1_800_000_000


@pytest.fixture(scope="module")
def key() -> SigningKeyPair:
    return generate_signing_key()


@pytest.fixture(scope="module")
def verifier(key: SigningKeyPair) -> TokenVerifier:
    return TokenVerifier({key.kid: key.public_pem})


def _issue(key: SigningKeyPair, lifetime: int = 3600, now: int = NOW) -> str:
    return issue_access_token(
        key,
        client_id="twc_abc",
        application_id="app_1",
        environment="production",
        lifetime_s=lifetime,
        now_s=now,
    ).token


def test_round_trip(key: SigningKeyPair, verifier: TokenVerifier) -> None:
    issued = issue_access_token(
        key,
        client_id="twc_abc",
        application_id="app_1",
        environment="production",
        lifetime_s=3600,
        now_s=NOW,
    )
    assert issued.expires_at_s == NOW + 3600
    claims = verifier.verify(issued.token, NOW + 10)
    assert claims is not None
    assert (claims.client_id, claims.application_id, claims.environment) == (
        "twc_abc",
        "app_1",
        "production",
    )
    assert claims.jti == issued.jti
    assert claims.kid == key.kid
    assert claims.issued_at_s == NOW
    header = jwt.get_unverified_header(issued.token)
    assert header["alg"] == "EdDSA" and header["kid"] == key.kid
    payload = jwt.decode(issued.token, options={"verify_signature": False})
    assert payload["iss"] == "tollway"


def test_jti_unique(key: SigningKeyPair) -> None:
    jtis = {
        issue_access_token(
            key, client_id="c", application_id="a", environment="dev", lifetime_s=1, now_s=NOW
        ).jti
        for _ in range(50)
    }
    assert len(jtis) == 50


def test_expiry(key: SigningKeyPair, verifier: TokenVerifier) -> None:
    token = _issue(key, lifetime=60)
    assert verifier.verify(token, NOW + 59) is not None
    assert verifier.verify(token, NOW + 60) is None
    assert verifier.verify(token, NOW + 10_000) is None


def test_issued_in_the_future_refused(key: SigningKeyPair, verifier: TokenVerifier) -> None:
    token = _issue(key, now=NOW + 3600)
    assert verifier.verify(token, NOW) is None


def test_unknown_kid_and_other_key(key: SigningKeyPair, verifier: TokenVerifier) -> None:
    other = generate_signing_key()
    assert verifier.verify(_issue(other), NOW) is None
    # other key's signature under the known kid
    forged = SigningKeyPair(kid=key.kid, private_pem=other.private_pem, public_pem="")
    assert verifier.verify(_issue(forged), NOW) is None


def _b64(obj: object) -> str:
    raw = json.dumps(obj).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_alg_none_and_hs256_confusion_refused(key: SigningKeyPair, verifier: TokenVerifier) -> None:
    claims = {
        "iss": "tollway",
        "sub": "c",
        "app": "a",
        "env": "production",
        "jti": "j",
        "iat": NOW,
        "exp": NOW + 100,
    }
    none_token = _b64({"alg": "none", "kid": key.kid}) + "." + _b64(claims) + "."
    assert verifier.verify(none_token, NOW) is None
    # the classic confusion attack: HMAC-sign with the public key as the shared secret
    signing_input = _b64({"alg": "HS256", "typ": "JWT", "kid": key.kid}) + "." + _b64(claims)
    mac = hmac.new(key.public_pem.encode(), signing_input.encode(), hashlib.sha256).digest()
    hs = signing_input + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    assert verifier.verify(hs, NOW) is None


def test_wrong_issuer_and_missing_claims(key: SigningKeyPair, verifier: TokenVerifier) -> None:
    pk = serialization.load_pem_private_key(key.private_pem.encode(), password=None)
    assert isinstance(pk, Ed25519PrivateKey)
    base = {
        "iss": "tollway",
        "sub": "c",
        "app": "a",
        "env": "production",
        "jti": "j",
        "iat": NOW,
        "exp": NOW + 100,
    }
    good = jwt.encode(base, pk, algorithm="EdDSA", headers={"kid": key.kid})
    assert verifier.verify(good, NOW) is not None  # the control: this construction works
    for change in (
        {"iss": "evil"},
        {"app": None},
        {"env": ""},
        {"exp": "soon"},
        {"iat": 1.5},
        {"jti": 7},
    ):
        bad = {**base, **change}
        bad = {k: v for k, v in bad.items() if v is not None}
        token = jwt.encode(bad, pk, algorithm="EdDSA", headers={"kid": key.kid})
        assert verifier.verify(token, NOW) is None, change


@pytest.mark.parametrize("junk", ["", "a.b.c", "x" * 5000, "...", "eyJ.eyJ.sig", "a.b"])
def test_garbage_never_raises(verifier: TokenVerifier, junk: str) -> None:
    assert verifier.verify(junk, NOW) is None


def test_tampered_payload(key: SigningKeyPair, verifier: TokenVerifier) -> None:
    token = _issue(key)
    h, p, s = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    payload["app"] = "app_2"
    assert verifier.verify(f"{h}.{_b64(payload)}.{s}", NOW) is None


def test_multiple_keys_for_rotation(key: SigningKeyPair) -> None:
    new = generate_signing_key()
    v = TokenVerifier({key.kid: key.public_pem, new.kid: new.public_pem})
    assert v.verify(_issue(key), NOW) is not None
    assert v.verify(_issue(new), NOW) is not None
    assert v.kids == {key.kid, new.kid}


def test_verifier_rejects_non_ed25519_key() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    with pytest.raises(ValueError):
        TokenVerifier({"k": pem})


def test_client_credentials() -> None:
    cid, secret = generate_client_credentials()
    assert cid.startswith("twc_") and len(cid) == 28
    assert secret.startswith("tws_") and len(secret) == 47
    h = hash_client_secret(secret)
    assert secret not in h and len(h) == 64
    assert verify_client_secret(h, secret)
    assert not verify_client_secret(h, secret + "x")
    assert not verify_client_secret(h, "")
    assert not verify_client_secret("", secret)
    assert generate_client_credentials() != (cid, secret)


def test_crit_header_and_future_nbf_refused(key: SigningKeyPair, verifier: TokenVerifier) -> None:
    pk = serialization.load_pem_private_key(key.private_pem.encode(), password=None)
    assert isinstance(pk, Ed25519PrivateKey)
    base = {
        "iss": "tollway",
        "sub": "c",
        "app": "a",
        "env": "production",
        "jti": "j",
        "iat": NOW,
        "exp": NOW + 100,
    }
    crit = jwt.encode(base, pk, algorithm="EdDSA", headers={"kid": key.kid, "crit": ["exp"]})
    assert verifier.verify(crit, NOW) is None
    nbf = jwt.encode({**base, "nbf": NOW + 1000}, pk, algorithm="EdDSA", headers={"kid": key.kid})
    assert verifier.verify(nbf, NOW) is None
