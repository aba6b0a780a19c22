"""A small but real PACT v3 host for the client's tests: HTTPS (a self-signed CA and a loopback certificate made
here), ``/.well-known/openid-configuration``, OAuth2 client credentials with Basic auth, ``GET /3/footprints``
with ``productId`` filtering, ``limit`` and absolute ``Link rel="next"`` pagination, and faults on demand
(503s, a footprint replaced by an invalid one).  Served by uvicorn in a thread on 127.0.0.1.

The client is never mocked: it talks TLS to this server over the loopback interface.
"""

from __future__ import annotations

import base64
import datetime as dt
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response

CLIENT_ID, CLIENT_SECRET = "buyer-1", "s3cret-buyer-1"


def footprint(product_id: str = "urn:pact:supplier.example:product:re-concentrate", kg: str = "4.2",
              pds: str | None = "62.5", pf_id: str | None = None, created: str = "2025-02-01T00:00:00Z",
              preceding: list[str] | None = None, unit: str = "kilogram", amount: str = "1",
              ref_year: int = 2024, company: str = "Bayan Obo Mining Co. (invented)") -> dict[str, Any]:
    """A valid PACT v3 ProductFootprint of a rare-earth concentrate, kg CO2e per ``amount`` ``unit``."""
    pcf: dict[str, Any] = {
        "declaredUnitOfMeasurement": unit, "declaredUnitAmount": amount, "productMassPerDeclaredUnit": amount,
        "referencePeriodStart": f"{ref_year}-01-01T00:00:00Z", "referencePeriodEnd": f"{ref_year + 1}-01-01T00:00:00Z",
        "geographyCountry": "CN", "pcfExcludingBiogenicUptake": kg, "pcfIncludingBiogenicUptake": kg,
        "fossilGhgEmissions": kg, "fossilCarbonContent": "0", "biogenicCarbonContent": "0",
        "ipccCharacterizationFactors": ["AR6"], "crossSectoralStandards": ["ISO14067", "PACT-3.0"],
        "productOrSectorSpecificRules": [{"operator": "EPD International",
                                          "ruleNames": ["Rare-earth concentrates, oxides, metals and magnets"]}],
        "exemptedEmissionsPercent": "0", "packagingEmissionsIncluded": False,
        "dqi": {"technologicalDQR": "1.4", "geographicalDQR": "1.2", "temporalDQR": "1.5"},
    }
    if pds is not None:
        pcf["primaryDataShare"] = pds
    pf: dict[str, Any] = {
        "id": pf_id or str(uuid.uuid4()), "specVersion": "3.0.3", "created": created, "status": "Active",
        "companyName": company, "companyIds": ["urn:pact:company:supplier.example"],
        "productDescription": "Bayan Obo-type mixed rare-earth concentrate, 50 % REO", "productIds": [product_id],
        "productClassifications": ["urn:pact:productclassification:un-cpc:14290"],
        "productNameCompany": "RE concentrate 50", "pcf": pcf,
    }
    if preceding:
        pf["precedingPfIds"] = preceding
    return pf


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A self-signed CA and a certificate for 127.0.0.1/localhost signed by it: (ca.pem, cert.pem, key.pem)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rareeco test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


@dataclass
class HostState:
    """What the host serves and how it misbehaves; counters of what it was asked."""

    footprints: list[dict[str, Any]] = field(default_factory=list)
    openid: bool = True              # serve /.well-known/openid-configuration
    fail_503: set[int] = field(default_factory=set)      # 1-based numbers of /3/footprints requests answered 503
    always_503: bool = False
    requests: list[str] = field(default_factory=list)    # "METHOD path?query"
    list_calls: int = 0
    tokens: set[str] = field(default_factory=set)

    def reset(self, footprints: list[dict[str, Any]] | None = None) -> None:
        self.footprints = list(footprints or [])
        self.openid, self.fail_503, self.always_503 = True, set(), False
        self.requests, self.list_calls, self.tokens = [], 0, set()


def make_app(state: HostState) -> FastAPI:
    app = FastAPI()

    @app.middleware("http")
    async def log(request: Request, call_next: Any) -> Response:
        q = f"?{request.url.query}" if request.url.query else ""
        state.requests.append(f"{request.method} {request.url.path}{q}")
        return await call_next(request)  # type: ignore[no-any-return]

    @app.get("/.well-known/openid-configuration")
    def openid(request: Request) -> Response:
        if not state.openid:
            return JSONResponse({"code": "NotFound", "message": "no OpenID configuration"}, status_code=404)
        base = str(request.base_url).rstrip("/")
        return JSONResponse({"issuer": base, "token_endpoint": f"{base}/oauth2/token"})

    def token(request: Request, body: bytes) -> Response:
        auth = request.headers.get("authorization", "")
        ok = auth.startswith("Basic ") and base64.b64decode(auth[6:]).decode() == f"{CLIENT_ID}:{CLIENT_SECRET}"
        if not ok:
            return JSONResponse({"error": "invalid_client", "error_description": "Authentication failed"},
                                status_code=400)
        if b"grant_type=client_credentials" not in body:
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        t = uuid.uuid4().hex
        state.tokens.add(t)
        return JSONResponse({"access_token": t, "token_type": "bearer"})

    @app.post("/auth/token")
    async def auth_token(request: Request) -> Response:
        return token(request, await request.body())

    @app.post("/oauth2/token")
    async def oauth2_token(request: Request) -> Response:
        return token(request, await request.body())

    @app.get("/3/footprints")
    def list_footprints(request: Request, productId: list[str] = Query(default=[]),  # noqa: N803
                        limit: int = 100, offset: int = 0) -> Response:
        state.list_calls += 1
        if state.always_503 or state.list_calls in state.fail_503:
            return JSONResponse({"code": "InternalError", "message": "busy"}, status_code=503)
        auth = request.headers.get("authorization", "")
        if not (auth.startswith("Bearer ") and auth[7:] in state.tokens):
            return JSONResponse({"code": "BadRequest", "message": "bad token"}, status_code=401)
        chosen = [pf for pf in state.footprints
                  if not productId or set(productId) & set(pf.get("productIds", []))]
        page = chosen[offset:offset + limit]
        headers = {}
        if offset + limit < len(chosen):
            query = "&".join([f"productId={p}" for p in productId] + [f"limit={limit}", f"offset={offset + limit}"])
            headers["link"] = f'<{str(request.base_url).rstrip("/")}/3/footprints?{query}>; rel="next"'
        return JSONResponse({"data": page}, headers=headers)

    return app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Host:
    url: str
    ca_file: Path
    state: HostState


def serve_https(app: Any, folder: Path) -> Iterator[tuple[str, Path]]:
    """Serve ``app`` over TLS on loopback in a thread; yield (base URL, CA file); stop it afterwards."""
    ca, cert, key = make_certificates(folder)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, ssl_certfile=str(cert), ssl_keyfile=str(key),
                            log_level="error", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test PACT host did not start")
        time.sleep(0.02)
    try:
        yield f"https://127.0.0.1:{port}", ca
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def pact_host(folder: Path) -> Iterator[Host]:
    state = HostState()
    for url, ca in serve_https(make_app(state), folder):
        yield Host(url, ca, state)
