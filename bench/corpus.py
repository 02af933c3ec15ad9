"""Deterministic synthetic corpus for benchmarking secret scanners.

`python bench/corpus.py OUTDIR [--seed N]` writes a tree of realistic, mostly benign code
and config files in many languages and formats into OUTDIR. Secrets of many kinds are planted
at known lines, and look-alike decoys (placeholders, hashes, public keys, ...) are placed
beside them. The ground truth goes to `OUTDIR/../<basename(OUTDIR)>.manifest.json`, outside
the scanned tree:

    {"secrets": [{"id", "kind", "format", "path", "line_start", "line_end", "value"}, ...],
     "decoys":  [{"id", "kind", "format", "path", "line", "line_end", "value"}, ...], ...}

Paths are relative to OUTDIR with "/" separators; lines are 1-based and inclusive. Every
random choice comes from one `random.Random(seed)`, so a seed always gives the same bytes.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import re
import string
import sys
import uuid
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import quote
from xml.sax.saxutils import escape as xml_escape

DEFAULT_SEED = 1337

ALNUM = string.digits + string.ascii_uppercase + string.ascii_lowercase  # base62 digit order
LETTERS = string.ascii_letters
HEX = "0123456789abcdef"
B64 = string.ascii_uppercase + string.ascii_lowercase + string.digits + "+/"
B64URL = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
B32 = string.ascii_uppercase + "234567"
CRYPT = "./" + string.digits + string.ascii_uppercase + string.ascii_lowercase
BCRYPT = "./" + string.ascii_uppercase + string.ascii_lowercase + string.digits
PW_SYMBOLS = "!#$%&*+-=?@^_~"

Role = Literal["secret", "decoy"]
Payload = str | list[str]  # one-line value, or the lines of a multi-line value (PEM)


# --------------------------------------------------------------------------- random values


def rs(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choices(alphabet, k=n))


def base62(num: int, width: int) -> str:
    digits: list[str] = []
    while num:
        num, rem = divmod(num, 62)
        digits.append(ALNUM[rem])
    return "".join(reversed(digits)).rjust(width, "0")


def crc_token(rng: random.Random, prefix: str) -> str:
    """GitHub / npm style token: 30 random base62 chars + base62(crc32(random part))."""
    body = rs(rng, ALNUM, 30)
    return prefix + body + base62(zlib.crc32(body.encode()), 6)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def wrap(text: str, width: int) -> list[str]:
    return [text[i : i + width] for i in range(0, len(text), width)]


def password(rng: random.Random) -> str:
    """A realistic generated password such as 'Xk9#mPq2$vL7'."""
    n = rng.randint(12, 20)
    chars = [
        rng.choice(string.ascii_uppercase),
        rng.choice(string.ascii_lowercase),
        rng.choice(string.digits),
        rng.choice(PW_SYMBOLS),
    ]
    chars += rng.choices(LETTERS + string.digits + PW_SYMBOLS, k=n - len(chars))
    rng.shuffle(chars)
    return "".join(chars)


def url_password(rng: random.Random) -> str:
    return quote(password(rng), safe="")


def fake_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


USERS = [
    "svc_billing",
    "deploy",
    "app_user",
    "jenkins",
    "ci-bot",
    "reporting_ro",
    "etl_loader",
    "admin",
    "backup",
    "grafana",
    "airflow",
    "metabase",
    "orders_rw",
    "release-bot",
]
COMPANY = ["acme", "globex", "initech", "umbrella", "hooli", "vandelay", "wayne", "stark"]
REGIONS = ["eu-west-1", "us-east-1", "us-west-2", "ap-southeast-2", "eu-central-1"]
ENVS = ["prod", "staging", "qa", "dev", "perf"]
DBNAMES = ["orders", "billing", "inventory", "analytics", "accounts", "events", "catalog"]


def user(rng: random.Random) -> str:
    return rng.choice(USERS)


def host(rng: random.Random, role: str) -> str:
    co = rng.choice(COMPANY)
    return f"{role}-{rng.choice(ENVS)}-{rng.randint(1, 9)}.{rng.choice(REGIONS)}.internal.{co}.net"


# --- secret value makers (one per planted kind) ----------------------------------------------


def mk_aws_id(rng: random.Random) -> str:
    return "AKIA" + rs(rng, B32, 16)


def mk_aws_secret(rng: random.Random) -> str:
    return rs(rng, B64, 40)


def mk_github_fine(rng: random.Random) -> str:
    return (
        f"github_pat_11{rs(rng, string.ascii_uppercase + string.digits, 20)}_{rs(rng, ALNUM, 59)}"
    )


def mk_slack_bot(rng: random.Random) -> str:
    return f"xoxb-{rng.randint(10**11, 10**13 - 1)}-{rng.randint(10**11, 10**13 - 1)}-{rs(rng, ALNUM, 24)}"


def mk_slack_webhook(rng: random.Random) -> str:
    up = string.ascii_uppercase + string.digits
    return (
        f"https://hooks.slack.com/services/T{rs(rng, up, rng.randint(8, 10))}"
        f"/B{rs(rng, up, rng.randint(8, 10))}/{rs(rng, ALNUM, 24)}"
    )


def mk_stripe(rng: random.Random) -> str:
    return "sk_live_" + rs(rng, ALNUM, rng.randint(24, 99))


def mk_sendgrid(rng: random.Random) -> str:
    return f"SG.{rs(rng, B64URL, 22)}.{rs(rng, B64URL, 43)}"


def mk_twilio(rng: random.Random) -> str:
    return "SK" + rs(rng, HEX, 32)


def mk_google_api(rng: random.Random) -> str:
    return "AIza" + rs(rng, B64URL, 35)


def mk_openai(rng: random.Random) -> str:
    return f"sk-proj-{rs(rng, B64URL, 74)}T3BlbkFJ{rs(rng, B64URL, 74)}"


def mk_anthropic(rng: random.Random) -> str:
    return f"sk-ant-api03-{rs(rng, B64URL, 93)}AA"


def mk_pypi(rng: random.Random) -> str:
    """A PyPI API token: 'pypi-' + base64url of a macaroon (v2 binary) issued by pypi.org."""

    def field_(tag: int, data: bytes) -> bytes:
        return bytes([tag, len(data)]) + data

    ident = rng.randbytes(16)
    caveat = json.dumps({"version": 1, "permissions": "user"}, separators=(",", ":")).encode()
    raw = (
        b"\x02"
        + field_(1, b"pypi.org")
        + field_(2, ident)
        + b"\x00"
        + field_(2, caveat)
        + b"\x00"
        + b"\x00"
        + field_(6, rng.randbytes(32))
    )
    return "pypi-" + b64url(raw)


def mk_hf(rng: random.Random) -> str:
    return "hf_" + rs(rng, LETTERS, 34)


def mk_digitalocean(rng: random.Random) -> str:
    return "dop_v1_" + rs(rng, HEX, 64)


def mk_shopify(rng: random.Random) -> str:
    return "shpat_" + rs(rng, HEX, 32)


def mk_mailchimp(rng: random.Random) -> str:
    return f"{rs(rng, HEX, 32)}-us{rng.randint(1, 21)}"


def mk_telegram(rng: random.Random) -> str:
    return f"{rng.randint(10**8, 10**10 - 1)}:AA{rs(rng, B64URL, 33)}"


def mk_discord_webhook(rng: random.Random) -> str:
    return (
        f"https://discord.com/api/webhooks/{rng.randint(10**17, 10**19 - 1)}/{rs(rng, B64URL, 68)}"
    )


def mk_heroku(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return "HRKU-" + fake_uuid(rng)
    return "HRKU-AA" + rs(rng, B64URL, 58)


def mk_azure_storage(rng: random.Random) -> str:
    account = (
        rng.choice(COMPANY)
        + rng.choice(["data", "logs", "backups", "assets"])
        + str(rng.randint(1, 99))
    )
    return (
        f"DefaultEndpointsProtocol=https;AccountName={account};"
        f"AccountKey={b64(rng.randbytes(64))};EndpointSuffix=core.windows.net"
    )


def mk_gcp_oauth_secret(rng: random.Random) -> str:
    return "GOCSPX-" + rs(rng, B64URL, 28)


def mk_databricks(rng: random.Random) -> str:
    return "dapi" + rs(rng, HEX, 32) + rng.choice(["", "-2", "-3"])


def mk_planetscale(rng: random.Random) -> str:
    return "pscale_pw_" + rs(rng, ALNUM + "_", 43)


def mk_doppler(rng: random.Random) -> str:
    return "dp.pt." + rs(rng, ALNUM, 43)


def mk_vault(rng: random.Random) -> str:
    return "hvs.CAESI" + rs(rng, B64URL, rng.randint(86, 100))


def mk_postman(rng: random.Random) -> str:
    return f"PMAK-{rs(rng, HEX, 24)}-{rs(rng, HEX, 34)}"


def mk_linear(rng: random.Random) -> str:
    return "lin_api_" + rs(rng, ALNUM, 40)


def mk_newrelic(rng: random.Random) -> str:
    return "NRAK-" + rs(rng, string.ascii_uppercase + string.digits, 27)


def mk_sentry_dsn(rng: random.Random) -> str:
    return (
        f"https://{rs(rng, HEX, 32)}@o{rng.randint(100000, 9999999)}.ingest.sentry.io/"
        f"{rng.randint(1000000, 9999999)}"
    )


def der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    if n < 0x100:
        return b"\x81" + bytes([n])
    return b"\x82" + n.to_bytes(2, "big")


def der(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + der_len(len(content)) + content


def der_int(rng: random.Random, nbytes: int, *, top: bool = False) -> bytes:
    raw = bytearray(rng.randbytes(nbytes))
    if top:
        raw[0] |= 0x80
    if raw[0] & 0x80:
        raw = bytearray(b"\x00") + raw
    return der(0x02, bytes(raw))


def pem(label: str, body: bytes, width: int = 64) -> list[str]:
    return [f"-----BEGIN {label}-----", *wrap(b64(body), width), f"-----END {label}-----"]


def mk_rsa_key(rng: random.Random) -> list[str]:
    """PKCS#1 RSA-2048 private key: valid DER structure (MIIE...), random numbers."""
    body = (
        der(0x02, b"\x00")
        + der_int(rng, 256, top=True)
        + der(0x02, b"\x01\x00\x01")
        + der_int(rng, 256)
        + der_int(rng, 128, top=True)
        + der_int(rng, 128, top=True)
        + der_int(rng, 128)
        + der_int(rng, 128)
        + der_int(rng, 128)
    )
    return pem("RSA PRIVATE KEY", der(0x30, body))


def ssh_string(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def mk_openssh_key(rng: random.Random) -> list[str]:
    """openssh-key-v1 Ed25519 private key, unencrypted."""
    pub, priv, check = rng.randbytes(32), rng.randbytes(32), rng.randbytes(4)
    comment = (
        f"{user(rng)}@{rng.choice(COMPANY)}-{rng.choice(['build', 'bastion', 'laptop'])}".encode()
    )
    pubblob = ssh_string(b"ssh-ed25519") + ssh_string(pub)
    section = (
        check
        + check
        + ssh_string(b"ssh-ed25519")
        + ssh_string(pub)
        + ssh_string(priv + pub)
        + ssh_string(comment)
    )
    section += bytes(range(1, (8 - len(section) % 8) % 8 + 1))
    blob = (
        b"openssh-key-v1\x00"
        + ssh_string(b"none")
        + ssh_string(b"none")
        + ssh_string(b"")
        + (1).to_bytes(4, "big")
        + ssh_string(pubblob)
        + ssh_string(section)
    )
    return pem("OPENSSH PRIVATE KEY", blob, width=70)


def mk_ec_key(rng: random.Random) -> list[str]:
    """SEC1 P-256 private key (MHcCAQEE...)."""
    prime256v1 = bytes.fromhex("06082a8648ce3d030107")
    body = (
        der(0x02, b"\x01")
        + der(0x04, rng.randbytes(32))
        + der(0xA0, prime256v1)
        + der(0xA1, der(0x03, b"\x00\x04" + rng.randbytes(64)))
    )
    return pem("EC PRIVATE KEY", der(0x30, body))


def mk_jwt(rng: random.Random) -> str:
    alg = rng.choice(["HS256", "RS256"])
    header: dict[str, str] = {"alg": alg, "typ": "JWT"}
    if alg == "RS256":
        header["kid"] = rs(rng, HEX, 16)
    iat = rng.randint(1_650_000_000, 1_750_000_000)
    payload = {
        "iss": f"https://auth.{rng.choice(COMPANY)}.io/",
        "sub": fake_uuid(rng),
        "email": f"{user(rng)}@{rng.choice(COMPANY)}.io",
        "scope": rng.choice(["read:orders write:orders", "admin", "openid profile email"]),
        "iat": iat,
        "exp": iat + rng.choice([3600, 86400, 31536000]),
    }
    sig = rng.randbytes(32 if alg == "HS256" else 256)
    compact = (",", ":")
    return ".".join(
        [
            b64url(json.dumps(header, separators=compact).encode()),
            b64url(json.dumps(payload, separators=compact).encode()),
            b64url(sig),
        ]
    )


def mk_postgres(rng: random.Random) -> str:
    return (
        f"postgres://{user(rng)}:{url_password(rng)}@{host(rng, 'pg')}:5432/"
        f"{rng.choice(DBNAMES)}?sslmode=require"
    )


def mk_mysql(rng: random.Random) -> str:
    return (
        f"mysql://{user(rng)}:{url_password(rng)}@{host(rng, 'mysql')}:3306/{rng.choice(DBNAMES)}"
    )


def mk_mongodb(rng: random.Random) -> str:
    cluster = f"cluster{rng.randint(0, 3)}.{rs(rng, string.ascii_lowercase + string.digits, 5)}"
    return (
        f"mongodb+srv://{user(rng)}:{url_password(rng)}@{cluster}.mongodb.net/"
        f"{rng.choice(DBNAMES)}?retryWrites=true&w=majority"
    )


def mk_redis(rng: random.Random) -> str:
    return f"redis://:{url_password(rng)}@{host(rng, 'cache')}:6379/{rng.randint(0, 15)}"


def mk_basic_auth_url(rng: random.Random) -> str:
    path = rng.choice(
        ["/artifactory/api/pypi/simple", "/v2/", "/api/v1/metrics", "/repository/maven"]
    )
    return f"https://{user(rng)}:{url_password(rng)}@{host(rng, 'repo')}{path}"


def mk_apr1(rng: random.Random) -> str:
    return f"$apr1${rs(rng, CRYPT, 8)}${rs(rng, CRYPT, 22)}"


def mk_bcrypt(rng: random.Random) -> str:
    return f"$2y${rng.choice(['10', '11', '12'])}${rs(rng, BCRYPT, 53)}"


def mk_sha512crypt(rng: random.Random) -> str:
    return f"$6${rs(rng, CRYPT, 16)}${rs(rng, CRYPT, 86)}"


def mk_docker_auth(rng: random.Random) -> str:
    return b64(f"{user(rng)}:{password(rng)}".encode())


def mk_kube_client_key(rng: random.Random) -> str:
    return b64(("\n".join(mk_ec_key(rng)) + "\n").encode())


# --- decoy value makers ---------------------------------------------------------------------


def mk_public_key_pem(rng: random.Random) -> list[str]:
    rsa_oid = bytes.fromhex("300d06092a864886f70d0101010500")
    rsa_pub = der(0x30, der_int(rng, 256, top=True) + der(0x02, b"\x01\x00\x01"))
    return pem("PUBLIC KEY", der(0x30, rsa_oid + der(0x03, b"\x00" + rsa_pub)))


def mk_certificate_pem(rng: random.Random) -> list[str]:
    tbs = der(0xA0, der(0x02, b"\x02")) + der_int(rng, 16) + rng.randbytes(rng.randint(700, 900))
    sha256_rsa = bytes.fromhex("300d06092a864886f70d01010b0500")
    cert = der(0x30, der(0x30, tbs) + sha256_rsa + der(0x03, b"\x00" + rng.randbytes(256)))
    return pem("CERTIFICATE", cert)


def mk_ssh_public_key(rng: random.Random) -> str:
    blob = (
        ssh_string(b"ssh-rsa")
        + ssh_string(b"\x01\x00\x01")
        + ssh_string(b"\x00" + rng.randbytes(256))
    )
    return f"ssh-rsa {b64(blob)} {user(rng)}@{rng.choice(COMPANY)}-laptop"


def mk_png_data_uri(rng: random.Random) -> str:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + rng.randbytes(rng.randint(90, 220))
    return "data:image/png;base64," + b64(png)


def mk_sri(rng: random.Random) -> str:
    return "sha512-" + b64(rng.randbytes(64))


LOREM = (
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
    "incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud "
    "exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat."
)


# --------------------------------------------------------------------------- kinds and marks


@dataclass(frozen=True)
class Kind:
    """A planted secret kind or a decoy kind.

    `names` are candidate variable names as word tuples; each carrier format spells them in
    its own style. `formats` are the carriers the kind may be planted in. `raw`, when set,
    renders the mark itself for a format (statements such as `if password == confirm:`).
    """

    name: str
    role: Role
    make: Callable[[random.Random], Payload]
    formats: tuple[str, ...]
    names: tuple[tuple[str, ...], ...] = (("secret",),)
    count: tuple[int, int] = (2, 4)
    raw: Callable[[random.Random, str, Mark], list[Line]] | None = None


@dataclass
class Mark:
    ident: str
    kind: Kind
    value: Payload
    words: tuple[str, ...]
    companions: list[Mark] = field(default_factory=list)  # rendered right after this mark


Line = tuple[str, Mark | None]


def plain(lines: Sequence[str]) -> list[Line]:
    return [(text, None) for text in lines]


def marked(lines: Sequence[str], mark: Mark) -> list[Line]:
    return [(text, mark) for text in lines]


def indent(lines: Sequence[Line], prefix: str) -> list[Line]:
    return [((prefix + text) if text else text, m) for text, m in lines]


# --- name spelling ---------------------------------------------------------------------------


def upper_snake(words: Sequence[str]) -> str:
    return "_".join(words).upper()


def snake(words: Sequence[str]) -> str:
    return "_".join(words)


def camel(words: Sequence[str]) -> str:
    return words[0] + "".join(w.capitalize() for w in words[1:])


def pascal(words: Sequence[str]) -> str:
    return "".join(w.capitalize() for w in words)


def dotted(words: Sequence[str]) -> str:
    return ".".join(words)


# --- quoting ---------------------------------------------------------------------------------


def dq(value: str) -> str:
    return json.dumps(value)


def sq(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def sh_sq(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


def yaml_scalar(value: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_./+=-]+", value) and not value[0].isdigit():
        return value
    return dq(value)


def joined(value: Payload) -> str:
    return value if isinstance(value, str) else "\n".join(value) + "\n"


# --- assignments in every carrier format -----------------------------------------------------

CODE_FORMATS = ("py", "js", "ts", "go", "java", "php", "rb", "cs", "sh")
CONFIG_FORMATS = ("yaml", "json", "xml", "ini", "toml", "env", "props", "docker", "tf", "md")
ALL_FORMATS = CODE_FORMATS + CONFIG_FORMATS


def assign(rng: random.Random, fmt: str, mark: Mark) -> list[Line]:
    """Render `mark` as a natural assignment in `fmt`; the marked lines hold the value."""
    w, v = mark.words, mark.value
    if not isinstance(v, str):
        return assign_block(rng, fmt, mark)
    style = rng.randrange(3)
    if fmt == "py":
        if style == 0:
            return marked([f"{upper_snake(w)} = {dq(v)}"], mark)
        if style == 1:
            return [
                (f"{camel(['default', 'settings'])} = {{", None),
                (f"    {dq(snake(w))}: {dq(v)},", mark),
                (f'    "timeout": {rng.choice([5, 10, 30])},', None),
                ("}", None),
            ]
        return [
            (f"def get_{snake(w)}() -> str:", None),
            (f"    return os.environ.get({dq(upper_snake(w))}, {dq(v)})", mark),
        ]
    if fmt in ("js", "ts"):
        typ = ": string" if fmt == "ts" else ""
        if style == 0:
            return marked([f"export const {upper_snake(w)}{typ} = {dq(v)};"], mark)
        if style == 1:
            return [
                (f"const {camel(w)}Options = {{", None),
                (f"  {camel(w)}: {sq(v)},", mark),
                (f"  retries: {rng.randint(1, 5)},", None),
                ("};", None),
            ]
        return marked([f"const {camel(w)}{typ} = process.env.{upper_snake(w)} || {sq(v)};"], mark)
    if fmt == "go":
        if style == 0:
            return marked([f"const {camel(w)} = {dq(v)}"], mark)
        return [
            (f"var {camel(w)}Config = Config{{", None),
            (f"\t{pascal(w)}: {dq(v)},", mark),
            (f"\tTimeout:  {rng.choice([5, 10, 30])} * time.Second,", None),
            ("}", None),
        ]
    if fmt == "java":
        if style == 0:
            return marked([f"private static final String {upper_snake(w)} = {dq(v)};"], mark)
        return marked([f"private String {camel(w)} = {dq(v)};"], mark)
    if fmt == "php":
        if style == 0:
            return marked([f"${camel(w)} = {sq(v)};"], mark)
        if style == 1:
            return marked([f"define({sq(upper_snake(w))}, {sq(v)});"], mark)
        return [
            ("$config = [", None),
            (f"    {sq(snake(w))} => {sq(v)},", mark),
            (f"    'debug' => {rng.choice(['true', 'false'])},", None),
            ("];", None),
        ]
    if fmt == "rb":
        if style == 0:
            return marked([f"{upper_snake(w)} = {sq(v)}.freeze"], mark)
        return marked([f"config.{snake(w)} = {sq(v)}"], mark)
    if fmt == "cs":
        if style == 0:
            return marked([f"private const string {pascal(w)} = {dq(v)};"], mark)
        return marked([f"public string {pascal(w)} {{ get; set; }} = {dq(v)};"], mark)
    if fmt == "sh":
        if style == 0:
            return marked([f"export {upper_snake(w)}={sh_sq(v)}"], mark)
        return marked([f"{upper_snake(w)}={sh_sq(v)}"], mark)
    if fmt == "yaml":
        return marked([f"{snake(w)}: {yaml_scalar(v) if style else dq(v)}"], mark)
    if fmt == "json":
        return marked([f"{dq(camel(w))}: {dq(v)}"], mark)
    if fmt == "xml":
        if style == 0:
            return marked(
                [f'<add key="{pascal(w)}" value="{xml_escape(v, {chr(34): "&quot;"})}" />'], mark
            )
        return marked([f"<{camel(w)}>{xml_escape(v)}</{camel(w)}>"], mark)
    if fmt == "ini":
        return marked([f"{snake(w)} = {v}"], mark)
    if fmt == "toml":
        return marked([f"{snake(w)} = {dq(v)}"], mark)
    if fmt == "env":
        return marked([f"{upper_snake(w)}={v if style else dq(v)}"], mark)
    if fmt == "props":
        return marked([f"{dotted(w)}={v}"], mark)
    if fmt == "docker":
        verb = "ENV" if style else "ARG"
        return marked([f"{verb} {upper_snake(w)}={dq(v)}"], mark)
    if fmt == "tf":
        return marked([f"{snake(w)} = {dq(v)}"], mark)
    if fmt == "md":
        return [("```bash", None), (f"export {upper_snake(w)}={sh_sq(v)}", mark), ("```", None)]
    raise ValueError(f"no assignment for format {fmt!r}")


def assign_block(rng: random.Random, fmt: str, mark: Mark) -> list[Line]:
    """Render a multi-line value (PEM) in `fmt`."""
    w, lines = mark.words, mark.value
    assert isinstance(lines, list)
    one_line = "\\n".join(lines) + "\\n"
    if fmt == "pem":
        return marked(lines, mark)
    if fmt == "py":
        return marked([f'{upper_snake(w)} = """{lines[0]}', *lines[1:-1], f'{lines[-1]}"""'], mark)
    if fmt in ("js", "ts"):
        return marked(
            [f"export const {camel(w)} = `{lines[0]}", *lines[1:-1], f"{lines[-1]}`;"], mark
        )
    if fmt == "go":
        return marked(
            [f"var {camel(w)} = []byte(`{lines[0]}", *lines[1:-1], f"{lines[-1]}`)"], mark
        )
    if fmt == "rb":
        return marked([f"{upper_snake(w)} = <<~PEM", *["  " + x for x in lines], "PEM"], mark)
    if fmt == "php":
        return marked([f"${camel(w)} = <<<'PEM'", *lines, "PEM;"], mark)
    if fmt == "yaml":
        return marked([f"{snake(w)}: |", *["  " + x for x in lines]], mark)
    if fmt == "json":
        return marked([f'{dq(camel(w))}: "{one_line}"'], mark)
    if fmt == "env":
        return marked([f'{upper_snake(w)}="{one_line}"'], mark)
    if fmt == "toml":
        return marked([f'{snake(w)} = """', *lines, '"""'], mark)
    if fmt == "tf":
        return marked([f"{snake(w)} = <<-EOT", *["  " + x for x in lines], "  EOT"], mark)
    if fmt == "sh":
        path = f"$HOME/.ssh/{snake(w)}"
        return marked([f"cat > \"{path}\" <<'EOF'", *lines, "EOF"], mark) + plain(
            [f'chmod 600 "{path}"']
        )
    if fmt == "md":
        return [("```", None), *marked(lines, mark), ("```", None)]
    if fmt == "xml":
        return marked([f"<{camel(w)}>", *lines, f"</{camel(w)}>"], mark)
    raise ValueError(f"no block assignment for format {fmt!r}")


def render_mark(rng: random.Random, fmt: str, mark: Mark) -> list[Line]:
    lines = mark.kind.raw(rng, fmt, mark) if mark.kind.raw is not None else []
    if not lines:
        lines = assign(rng, fmt, mark)
    for companion in mark.companions:
        lines = lines + render_mark(rng, fmt, companion)
    return lines


# --- decoy statements that are not assignments of a literal ----------------------------------


def raw_getpass(rng: random.Random, fmt: str, mark: Mark) -> list[Line]:
    call = rng.choice(["getpass.getpass()", 'getpass.getpass("Database password: ")'])
    return [
        ("def prompt_credentials() -> tuple[str, str]:", None),
        ('    username = input("Username: ")', None),
        (f"    password = {call}", mark),
        ("    return username, password", None),
    ]


def raw_environ(rng: random.Random, fmt: str, mark: Mark) -> list[Line]:
    var = upper_snake(mark.words)
    name = {
        "py": snake,
        "js": camel,
        "ts": camel,
        "go": camel,
        "java": camel,
        "php": camel,
        "rb": snake,
        "cs": camel,
    }[fmt](mark.words[-1:] if rng.random() < 0.5 else mark.words)
    line = {
        "py": f'{name} = os.environ["{var}"]',
        "js": f"const {name} = process.env.{var};",
        "ts": f"const {name}: string | undefined = process.env.{var};",
        "go": f'var {name} = os.Getenv("{var}")',
        "java": f'private final String {name} = System.getenv("{var}");',
        "php": f"${name} = getenv('{var}');",
        "rb": f'{name} = ENV.fetch("{var}")',
        "cs": f'private readonly string {name} = Environment.GetEnvironmentVariable("{var}");',
    }[fmt]
    return marked([line], mark)


def raw_compare(rng: random.Random, fmt: str, mark: Mark) -> list[Line]:
    if fmt == "py":
        return [
            ("def check_passwords(password: str, confirm: str) -> None:", None),
            ("    if password == confirm:", mark),
            ("        return", None),
            ('    raise ValueError("passwords do not match")', None),
        ]
    if fmt in ("js", "ts"):
        arg = ": string" if fmt == "ts" else ""
        return [
            (f"function passwordsMatch(password{arg}, confirm{arg}) {{", None),
            ("  if (password === confirm) {", mark),
            ("    return true;", None),
            ("  }", None),
            ("  return false;", None),
            ("}", None),
        ]
    if fmt == "php":
        return [
            ("function passwords_match($password, $confirm) {", None),
            ("    if ($password === $confirm) {", mark),
            ("        return true;", None),
            ("    }", None),
            ("    return false;", None),
            ("}", None),
        ]
    return []


def raw_none(rng: random.Random, fmt: str, mark: Mark) -> list[Line]:
    line = {
        "py": f"{snake(mark.words)} = None",
        "js": f"let {camel(mark.words)} = null;",
        "ts": f"let {camel(mark.words)}: string | null = null;",
        "rb": f"{snake(mark.words)} = nil",
        "php": f"${camel(mark.words)} = null;",
    }.get(fmt)
    return marked([line], mark) if line else []


def raw_aws_example(rng: random.Random, fmt: str, mark: Mark) -> list[Line]:
    if fmt == "md":
        return [
            ("```ini", None),
            ("[default]", None),
            (f"aws_access_key_id = {mark.value}", mark),
            ("region = us-east-1", None),
            ("```", None),
        ]
    return []


def raw_data_uri(rng: random.Random, fmt: str, mark: Mark) -> list[Line]:
    assert isinstance(mark.value, str)
    if fmt == "md":
        return marked([f'<img alt="logo" src="{mark.value}" />'], mark)
    if fmt in ("js", "ts"):
        return marked([f"export const LOGO_PNG = {dq(mark.value)};"], mark)
    return []


def raw_lorem(rng: random.Random, fmt: str, mark: Mark) -> list[Line]:
    if fmt == "md":
        return marked([LOREM], mark)
    if fmt == "py":
        return [
            ("def placeholder_text() -> str:", None),
            (f'    """{LOREM}"""', mark),
            ('    return ""', None),
        ]
    return []


def raw_sha256(rng: random.Random, fmt: str, mark: Mark) -> list[Line]:
    if fmt == "docker":
        base = rng.choice(
            ["python:3.11-slim", "node:20-alpine", "golang:1.22", "eclipse-temurin:21-jre"]
        )
        return marked([f"FROM {base}@sha256:{mark.value}"], mark)
    return []


def raw_ssh_pub(rng: random.Random, fmt: str, mark: Mark) -> list[Line]:
    if fmt == "yaml":
        return [("ssh_authorized_keys:", None), (f"  - {mark.value}", mark)]
    if fmt == "authorized_keys":
        return marked([str(mark.value)], mark)
    return []


# --- the kinds ------------------------------------------------------------------------------

TOKEN_FORMATS = ALL_FORMATS
PEM_FORMATS = (
    "pem",
    "py",
    "js",
    "ts",
    "go",
    "rb",
    "php",
    "yaml",
    "json",
    "env",
    "toml",
    "tf",
    "sh",
    "md",
    "xml",
)


def secret(
    name: str,
    make: Callable[[random.Random], Payload],
    names: Sequence[Sequence[str]],
    formats: Sequence[str] = TOKEN_FORMATS,
) -> Kind:
    return Kind(name, "secret", make, tuple(formats), tuple(tuple(n) for n in names))


def decoy(
    name: str,
    make: Callable[[random.Random], Payload],
    names: Sequence[Sequence[str]],
    formats: Sequence[str],
    raw: Callable[[random.Random, str, Mark], list[Line]] | None = None,
    count: tuple[int, int] = (3, 5),
) -> Kind:
    return Kind(name, "decoy", make, tuple(formats), tuple(tuple(n) for n in names), count, raw)


def const(value: str) -> Callable[[random.Random], str]:
    return lambda rng: value


def pick(*values: str) -> Callable[[random.Random], str]:
    return lambda rng: rng.choice(values)


PW_NAMES = (
    ("db", "password"),
    ("password",),
    ("smtp", "password"),
    ("admin", "password"),
    ("redis", "password"),
    ("ldap", "bind", "password"),
    ("keystore", "password"),
)
DB_URL_NAMES = (
    ("database", "url"),
    ("db", "dsn"),
    ("primary", "db", "url"),
    ("sqlalchemy", "database", "uri"),
)

SECRET_KINDS: tuple[Kind, ...] = (
    # The AWS secret access key is planted right after each access key id (see plant()).
    secret(
        "aws-access-key-id",
        mk_aws_id,
        [("aws", "access", "key", "id")],
        (*TOKEN_FORMATS, "aws_credentials"),
    ),
    secret(
        "github-pat-classic",
        lambda r: crc_token(r, "ghp_"),
        [("github", "token"), ("gh", "token")],
        (*TOKEN_FORMATS, "git_credentials"),
    ),
    secret("github-pat-fine-grained", mk_github_fine, [("github", "pat"), ("gh", "api", "token")]),
    secret(
        "gitlab-pat",
        lambda r: "glpat-" + rs(r, B64URL, 20),
        [("gitlab", "token"), ("gl", "private", "token")],
    ),
    secret("slack-bot-token", mk_slack_bot, [("slack", "bot", "token"), ("slack", "token")]),
    secret(
        "slack-webhook-url", mk_slack_webhook, [("slack", "webhook", "url"), ("alerts", "webhook")]
    ),
    secret(
        "stripe-live-secret-key", mk_stripe, [("stripe", "secret", "key"), ("stripe", "api", "key")]
    ),
    secret("sendgrid-api-key", mk_sendgrid, [("sendgrid", "api", "key"), ("mail", "api", "key")]),
    secret("twilio-api-key", mk_twilio, [("twilio", "api", "key"), ("twilio", "key", "sid")]),
    secret("google-api-key", mk_google_api, [("google", "api", "key"), ("maps", "api", "key")]),
    secret("openai-api-key", mk_openai, [("openai", "api", "key")]),
    secret("anthropic-api-key", mk_anthropic, [("anthropic", "api", "key")]),
    secret(
        "npm-token",
        lambda r: crc_token(r, "npm_"),
        [("npm", "token"), ("npm", "auth", "token")],
        ("npmrc", "js", "ts", "yaml", "env", "sh", "docker", "json"),
    ),
    secret(
        "pypi-token",
        mk_pypi,
        [("pypi", "token"), ("twine", "password")],
        ("pypirc", "yaml", "env", "sh", "toml", "ini", "py"),
    ),
    secret("huggingface-token", mk_hf, [("hf", "token"), ("huggingface", "token")]),
    secret(
        "digitalocean-token", mk_digitalocean, [("digitalocean", "token"), ("do", "api", "token")]
    ),
    secret("shopify-access-token", mk_shopify, [("shopify", "access", "token")]),
    secret("mailchimp-api-key", mk_mailchimp, [("mailchimp", "api", "key")]),
    secret(
        "telegram-bot-token", mk_telegram, [("telegram", "bot", "token"), ("telegram", "token")]
    ),
    secret(
        "discord-webhook-url",
        mk_discord_webhook,
        [("discord", "webhook", "url"), ("discord", "webhook")],
    ),
    secret("heroku-api-key", mk_heroku, [("heroku", "api", "key")]),
    secret(
        "azure-storage-connection-string",
        mk_azure_storage,
        [("azure", "storage", "connection", "string"), ("storage", "connection", "string")],
    ),
    secret(
        "google-oauth-client-secret",
        mk_gcp_oauth_secret,
        [("google", "client", "secret"), ("oauth", "client", "secret")],
    ),
    secret("databricks-token", mk_databricks, [("databricks", "token")]),
    secret(
        "planetscale-password",
        mk_planetscale,
        [("planetscale", "password"), ("pscale", "password")],
    ),
    secret("doppler-token", mk_doppler, [("doppler", "token")]),
    secret("vault-token", mk_vault, [("vault", "token")]),
    secret("postman-api-key", mk_postman, [("postman", "api", "key")]),
    secret("linear-api-key", mk_linear, [("linear", "api", "key")]),
    secret(
        "newrelic-user-api-key",
        mk_newrelic,
        [("new", "relic", "api", "key"), ("newrelic", "api", "key")],
    ),
    secret("sentry-dsn", mk_sentry_dsn, [("sentry", "dsn")]),
    secret(
        "rsa-private-key",
        mk_rsa_key,
        [("private", "key"), ("jwt", "signing", "key"), ("tls", "key")],
        PEM_FORMATS,
    ),
    secret(
        "openssh-private-key",
        mk_openssh_key,
        [("deploy", "key"), ("ssh", "private", "key")],
        ("pem", "yaml", "sh", "md", "py", "tf"),
    ),
    secret(
        "ec-private-key", mk_ec_key, [("ec", "private", "key"), ("signing", "key")], PEM_FORMATS
    ),
    secret(
        "jwt",
        mk_jwt,
        [("auth", "token"), ("service", "jwt"), ("bearer", "token")],
        (*TOKEN_FORMATS, "kubeconfig"),
    ),
    secret("postgres-uri", mk_postgres, DB_URL_NAMES),
    secret("mysql-uri", mk_mysql, DB_URL_NAMES),
    secret("mongodb-srv-uri", mk_mongodb, [("mongo", "uri"), ("mongodb", "url")]),
    secret("redis-uri", mk_redis, [("redis", "url"), ("cache", "url")]),
    secret(
        "basic-auth-url",
        mk_basic_auth_url,
        [("registry", "url"), ("index", "url"), ("metrics", "endpoint")],
    ),
    *[
        secret(f"password-{fmt}", password, PW_NAMES, (fmt,))
        for fmt in ("yaml", "env", "py", "php", "json", "xml", "ini", "props", "sh")
    ],
    secret("netrc-password", password, [("password",)], ("netrc",)),
    secret("pgpass-password", password, [("password",)], ("pgpass",)),
    secret("git-credentials", password, [("password",)], ("git_credentials",)),
    secret("htpasswd-apr1", mk_apr1, [("password",)], ("htpasswd",)),
    secret("htpasswd-bcrypt", mk_bcrypt, [("password",)], ("htpasswd",)),
    secret("shadow-sha512crypt", mk_sha512crypt, [("password",)], ("shadow",)),
    secret("docker-config-auth", mk_docker_auth, [("auth",)], ("docker_config",)),
    secret(
        "kubeconfig-client-key-data",
        mk_kube_client_key,
        [("client", "key", "data")],
        ("kubeconfig",),
    ),
)

AWS_SECRET = secret("aws-secret-access-key", mk_aws_secret, [("aws", "secret", "access", "key")])

PLACEHOLDER_FORMATS = ("py", "js", "yaml", "json", "ini", "toml", "env", "props", "xml", "php")
CODE_ENV_FORMATS = ("py", "js", "ts", "go", "java", "php", "rb", "cs")

DECOY_KINDS: tuple[Kind, ...] = (
    decoy(
        "placeholder-changeme",
        pick("changeme", "change-me", "changeit"),
        PW_NAMES,
        PLACEHOLDER_FORMATS,
    ),
    decoy(
        "placeholder-env-reference",
        lambda r: "${" + r.choice(["DB_PASSWORD", "API_KEY", "NPM_TOKEN", "SECRET_KEY"]) + "}",
        [("db", "password"), ("api", "key"), ("secret", "key")],
        ("yaml", "env", "docker", "props", "npmrc", "toml"),
    ),
    decoy(
        "placeholder-angle-brackets",
        pick("<your-api-key>", "<API_KEY>", "<password>", "<your-secret-here>"),
        [("api", "key"), ("password",), ("client", "secret")],
        ("md", "yaml", "env", "json", "py", "pypirc"),
    ),
    decoy(
        "placeholder-xxxx",
        lambda r: "x" * r.randint(8, 32),
        [("api", "key"), ("access", "token"), ("secret",)],
        (*PLACEHOLDER_FORMATS, "md"),
    ),
    decoy(
        "placeholder-stripe-xxxx",
        const("sk_live_" + "X" * 24),
        [("stripe", "secret", "key")],
        ("py", "js", "env", "md", "yaml"),
    ),
    decoy(
        "placeholder-your-token-here",
        pick("your-token-here", "your_api_key_here", "YOUR_TOKEN"),
        [("token",), ("api", "token"), ("auth", "token")],
        (*PLACEHOLDER_FORMATS, "md", "sh"),
    ),
    decoy(
        "aws-documented-example-key-id",
        const("AKIAIOSFODNN7EXAMPLE"),
        [("aws", "access", "key", "id")],
        ("md", "py", "ini", "env", "sh", "yaml"),
        raw_aws_example,
    ),
    decoy(
        "aws-documented-example-secret",
        const("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        [("aws", "secret", "access", "key")],
        ("py", "ini", "env", "sh", "yaml", "json"),
    ),
    decoy(
        "uuid",
        fake_uuid,
        [("client", "id"), ("tenant", "id"), ("request", "id"), ("installation", "id")],
        ALL_FORMATS,
    ),
    decoy(
        "git-commit-sha",
        lambda r: rs(r, HEX, 40),
        [("commit", "sha"), ("revision",), ("git", "sha")],
        ALL_FORMATS,
    ),
    decoy(
        "sha256-digest",
        lambda r: rs(r, HEX, 64),
        [("sha256",), ("checksum",), ("content", "digest")],
        ("py", "js", "go", "yaml", "json", "toml", "tf", "docker", "md"),
        raw_sha256,
    ),
    decoy(
        "base64-image-data", mk_png_data_uri, [("logo", "png")], ("md", "js", "ts", "json", "py")
    ),
    decoy("sri-integrity-hash", mk_sri, [("integrity",)], ("json", "yaml", "js", "md")),
    decoy(
        "ssh-public-key",
        mk_ssh_public_key,
        [("ssh", "public", "key")],
        ("yaml", "tf", "md", "authorized_keys", "json"),
        raw_ssh_pub,
    ),
    decoy(
        "public-key-pem",
        mk_public_key_pem,
        [("public", "key"), ("jwt", "public", "key")],
        ("pem_public", "py", "yaml", "md", "js", "go"),
    ),
    decoy(
        "certificate-pem",
        mk_certificate_pem,
        [("ca", "cert"), ("tls", "certificate")],
        ("pem_public", "yaml", "md", "tf", "py"),
    ),
    decoy("password-getpass", const("getpass"), [("password",)], ("py",), raw_getpass),
    decoy(
        "password-from-environment",
        const("environ"),
        [("db", "password"), ("api", "key"), ("secret", "key")],
        CODE_ENV_FORMATS,
        raw_environ,
    ),
    decoy(
        "password-comparison",
        const("compare"),
        [("password",)],
        ("py", "js", "ts", "php"),
        raw_compare,
    ),
    decoy(
        "password-ui-label",
        pick("Password", "Confirm password", "Current password"),
        [("password",), ("password", "label")],
        ("json", "yaml", "props"),
    ),
    decoy(
        "api-key-none",
        const("None"),
        [("api", "key"), ("auth", "token"), ("secret", "key")],
        ("py", "js", "ts", "rb", "php"),
        raw_none,
    ),
    decoy(
        "token-empty-string",
        const(""),
        [("token",), ("api", "token"), ("password",)],
        ("py", "js", "go", "yaml", "json", "toml", "env"),
    ),
    decoy("lorem-ipsum", const(LOREM), [("description",)], ("md", "py", "json", "yaml"), raw_lorem),
)


# --------------------------------------------------------------------------- benign content

NOUNS = [
    "order",
    "invoice",
    "customer",
    "account",
    "session",
    "payment",
    "shipment",
    "product",
    "report",
    "metric",
    "event",
    "ticket",
    "subscription",
    "notification",
    "profile",
    "address",
    "cart",
    "refund",
    "ledger",
    "batch",
    "job",
    "webhook",
    "tenant",
    "quota",
    "catalog",
    "warehouse",
    "coupon",
    "review",
    "message",
    "attachment",
]
VERBS = [
    "load",
    "fetch",
    "create",
    "update",
    "delete",
    "sync",
    "validate",
    "render",
    "parse",
    "compute",
    "archive",
    "publish",
    "resolve",
    "refresh",
    "export",
    "merge",
    "schedule",
    "notify",
    "reconcile",
    "ingest",
]
ADJ = [
    "pending",
    "active",
    "stale",
    "primary",
    "default",
    "remote",
    "local",
    "cached",
    "daily",
    "retry",
]
SERVICES = [
    "billing",
    "inventory",
    "notifications",
    "accounts",
    "search",
    "gateway",
    "reporting",
    "scheduler",
]

SENTENCES = [
    "The {noun} service keeps its state in PostgreSQL and publishes changes to the event bus.",
    "Run the migrations before starting the {noun} worker for the first time.",
    "Each {noun} is validated against the schema before it is persisted.",
    "Requests are retried up to three times with exponential backoff.",
    "Configuration is read from environment variables first, then from the config file.",
    "Metrics are exported in Prometheus format on the /metrics endpoint.",
    "The nightly job reconciles {noun} records with the upstream provider.",
    "Use the staging cluster for load tests; production is read-only for developers.",
    "Credentials are injected at deploy time from the secrets manager, never committed.",
    "See the runbook for rotating the {noun} signing keys.",
]


class Benign:
    """Generators of realistic, secret-free code and config in each format."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def noun(self) -> str:
        return self.rng.choice(NOUNS)

    def verb(self) -> str:
        return self.rng.choice(VERBS)

    def sentence(self) -> str:
        return self.rng.choice(SENTENCES).format(noun=self.noun())

    # ---- code units ----

    def py_unit(self) -> list[str]:
        r, n, v = self.rng, self.noun(), self.verb()
        choice = r.randrange(5)
        if choice == 0:
            return [
                "@dataclass",
                f"class {pascal([r.choice(ADJ), n])}:",
                f'    """A {n} as stored in the {r.choice(SERVICES)} database."""',
                "",
                f"    {n}_id: str",
                f"    {r.choice(ADJ)}_count: int = 0",
                "    created_at: datetime | None = None",
                "    tags: list[str] = field(default_factory=list)",
            ]
        if choice == 1:
            return [
                f"def {v}_{n}(session: Session, {n}_id: str, *, timeout: float = {r.choice([2.0, 5.0, 10.0])}) -> dict[str, Any]:",
                f'    """{v.capitalize()} one {n} from the upstream API."""',
                f'    logger.debug("{v} {n} %s", {n}_id)',
                f'    url = f"{{BASE_URL}}/{n}s/{{{n}_id}}"',
                "    response = session.get(url, timeout=timeout)",
                "    response.raise_for_status()",
                "    return response.json()",
            ]
        if choice == 2:
            return [
                f"class {pascal([n, 'repository'])}:",
                f'    """Data access for {n}s."""',
                "",
                "    def __init__(self, pool: ConnectionPool) -> None:",
                "        self._pool = pool",
                f'        self._cache_key = "{n}:{{}}"',
                "",
                f"    def get(self, {n}_id: str) -> Row | None:",
                "        with self._pool.connection() as conn:",
                f'            return conn.execute("SELECT * FROM {n}s WHERE id = %s", ({n}_id,)).fetchone()',
                "",
                f"    def count_{r.choice(ADJ)}(self) -> int:",
                "        with self._pool.connection() as conn:",
                f'            return conn.execute("SELECT count(*) FROM {n}s").fetchone()[0]',
            ]
        if choice == 3:
            return [
                "def build_auth_header(token: str) -> dict[str, str]:",
                '    """Return the headers for an authenticated request."""',
                '    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}',
                "",
                "",
                f"def {v}_{n}s(items: Iterable[dict[str, Any]]) -> list[str]:",
                "    token_count = 0",
                "    result: list[str] = []",
                "    for item in items:",
                f'        if item.get("status") == "{r.choice(ADJ)}":',
                f'            result.append(item["{n}_id"])',
                '            token_count += len(item.get("tokens", []))',
                '    logger.info("processed %d tokens", token_count)',
                "    return result",
            ]
        tricky = [  # benign lines that mention credentials: bait for generic rules
            f'SECRET_NAME = "{r.choice(SERVICES)}-credentials"  # name of the Kubernetes secret',
            'PASSWORD_RESET_PATH = "/account/password/reset"',
            f'TOKEN_URL = "https://auth.{r.choice(COMPANY)}.io/oauth2/token"',
            'API_KEY_HEADER = "X-API-Key"',
            f"TOKEN_REFRESH_MARGIN_SECONDS = {r.choice([30, 60, 120])}",
            'PASSWORD_HASHER = "argon2"',
            f'CREDENTIALS_FILE = "/etc/{r.choice(SERVICES)}/credentials.json"',
        ]
        return [
            f"{upper_snake([r.choice(ADJ), 'timeout'])} = {r.choice([5, 15, 30, 60])}",
            f"MAX_{n.upper()}_RETRIES = {r.randint(2, 8)}",
            f'{upper_snake([n, "queue"])} = "{r.choice(SERVICES)}.{n}.{v}"',
            r.choice(tricky),
        ]

    def js_unit(self, ts: bool) -> list[str]:
        r, n, v = self.rng, self.noun(), self.verb()
        t = (lambda s: s) if ts else (lambda s: "")
        choice = r.randrange(4)
        if choice == 0:
            return [
                f"export async function {camel([v, n])}(id{t(': string')}){t(f': Promise<{pascal([n])}>')} {{",
                f"  const res = await fetch(`${{API_BASE}}/{n}s/${{id}}`, {{",
                "    headers: { Authorization: `Bearer ${getToken()}` },",
                "  });",
                "  if (!res.ok) {",
                f"    throw new Error(`failed to {v} {n} ${{id}}: ${{res.status}}`);",
                "  }",
                "  return res.json();",
                "}",
            ]
        if choice == 1:
            lines = [
                f"export class {pascal([n, 'store'])} {{",
                f"  private items{t(f': Map<string, {pascal([n])}>')} = new Map();",
                "",
                f"  add(item{t(f': {pascal([n])}')}){t(': void')} {{",
                "    this.items.set(item.id, item);",
                "  }",
                "",
                f"  {camel([r.choice(ADJ)])}(){t(f': {pascal([n])}[]')} {{",
                f"    return [...this.items.values()].filter((x) => x.status === '{r.choice(ADJ)}');",
                "  }",
                "}",
            ]
            if ts:
                lines = [
                    f"export interface {pascal([n])} {{",
                    "  id: string;",
                    "  status: string;",
                    "  updatedAt?: Date;",
                    "}",
                    "",
                    *lines,
                ]
            return lines
        if choice == 2:
            return [
                f"const {upper_snake([n, 'page', 'size'])} = {r.choice([25, 50, 100])};",
                f"const {upper_snake(['retry', 'delay', 'ms'])} = {r.choice([250, 500, 1000])};",
                f"const tokenStorageKey = '{r.choice(SERVICES)}.session';",
            ]
        return [
            f"export function {camel(['format', n])}({n}{t(f': {pascal([n])}')}){t(': string')} {{",
            f"  const label = {n}.status === '{r.choice(ADJ)}' ? 'ok' : 'check';",
            f"  return `${{{n}.id}} (${{label}})`;",
            "}",
        ]

    def go_unit(self) -> list[str]:
        r, n, v = self.rng, self.noun(), self.verb()
        if r.random() < 0.5:
            return [
                f"// {pascal([v, n])} {v}s the {n} with the given id.",
                f"func (s *Service) {pascal([v, n])}(ctx context.Context, id string) (*{pascal([n])}, error) {{",
                f"\tctx, cancel := context.WithTimeout(ctx, {r.choice([2, 5, 10])}*time.Second)",
                "\tdefer cancel()",
                f'\trow := s.db.QueryRowContext(ctx, "SELECT id, status FROM {n}s WHERE id = $1", id)',
                f"\tvar out {pascal([n])}",
                "\tif err := row.Scan(&out.ID, &out.Status); err != nil {",
                f'\t\treturn nil, fmt.Errorf("{v} {n} %s: %w", id, err)',
                "\t}",
                "\treturn &out, nil",
                "}",
            ]
        return [
            f"// {pascal([n])} is a {n} record.",
            f"type {pascal([n])} struct {{",
            '\tID        string    `json:"id"`',
            '\tStatus    string    `json:"status"`',
            '\tTokenTTL  int       `json:"token_ttl"`',
            '\tUpdatedAt time.Time `json:"updated_at"`',
            "}",
        ]

    def java_unit(self) -> list[str]:
        r, n, v = self.rng, self.noun(), self.verb()
        if r.random() < 0.5:
            return [
                f"public Optional<{pascal([n])}> {camel([v, n])}(String id) {{",
                f'    log.debug("{v} {n} {{}}", id);',
                "    return repository.findById(id)",
                f'        .filter(x -> "{r.choice(ADJ)}".equals(x.getStatus()));',
                "}",
            ]
        return [
            f"private static final int {upper_snake(['max', n, 'batch'])} = {r.choice([50, 100, 500])};",
            f'private static final String {upper_snake([n, "topic"])} = "{r.choice(SERVICES)}.{n}s";',
        ]

    def php_unit(self) -> list[str]:
        r, n, v = self.rng, self.noun(), self.verb()
        return [
            f"function {snake([v, n])}(PDO $db, string $id): ?array",
            "{",
            f"    $stmt = $db->prepare(\"SELECT * FROM {n}s WHERE id = :id AND status = '{r.choice(ADJ)}'\");",
            "    $stmt->execute(['id' => $id]);",
            "    $row = $stmt->fetch(PDO::FETCH_ASSOC);",
            "    return $row === false ? null : $row;",
            "}",
        ]

    def rb_unit(self) -> list[str]:
        r, n, v = self.rng, self.noun(), self.verb()
        return [
            f"def {snake([v, n])}(id)",
            f"  record = {pascal([n])}.find_by(id: id, status: '{r.choice(ADJ)}')",
            "  return nil unless record",
            "",
            f'  Rails.logger.info("{v} {n} #{{record.id}}")',
            "  record",
            "end",
        ]

    def cs_unit(self) -> list[str]:
        r, n, v = self.rng, self.noun(), self.verb()
        return [
            f"public async Task<{pascal([n])}?> {pascal([v, n])}Async(string id, CancellationToken ct)",
            "{",
            f'    _logger.LogDebug("{v} {n} {{Id}}", id);',
            f'    return await _db.{pascal([n])}s.FirstOrDefaultAsync(x => x.Id == id && x.Status == "{r.choice(ADJ)}", ct);',
            "}",
        ]

    def sh_unit(self) -> list[str]:
        r, n, v = self.rng, self.noun(), self.verb()
        return [
            f"{snake([v, n, 's'])}() {{",
            f'  local target="${{1:-{r.choice(ENVS)}}}"',
            f'  log "{v} {n}s on ${{target}}"',
            f'  kubectl -n "{r.choice(SERVICES)}" rollout status deploy/{n}-worker --timeout={r.choice([60, 120, 300])}s',
            "}",
        ]

    # ---- config entries ----

    def kv(self) -> tuple[tuple[str, ...], str]:
        r, n = self.rng, self.noun()
        options: list[tuple[tuple[str, ...], str]] = [
            (("host",), host(r, r.choice(["db", "api", "cache"]))),
            (("port",), str(r.choice([5432, 6379, 8080, 8443, 9090, 3306]))),
            (("timeout", "seconds"), str(r.choice([5, 10, 30, 60]))),
            (("pool", "size"), str(r.randint(2, 32))),
            (("log", "level"), r.choice(["info", "debug", "warning"])),
            ((n, "queue"), f"{r.choice(SERVICES)}-{n}"),
            (("enabled",), r.choice(["true", "false"])),
            (("region",), r.choice(REGIONS)),
            (("max", "retries"), str(r.randint(1, 9))),
            (("token", "ttl", "seconds"), str(r.choice([300, 900, 3600]))),
            (("secret", "name"), f"{r.choice(SERVICES)}-secrets"),
            (("auth", "provider"), r.choice(["oidc", "saml", "ldap"])),
            (("password", "min", "length"), str(r.choice([8, 10, 12]))),
            (("key", "prefix"), f"{n}:"),
        ]
        return r.choice(options)

    def section_name(self) -> str:
        return self.rng.choice(
            [
                "server",
                "database",
                "cache",
                "logging",
                "auth",
                "queue",
                "metrics",
                "storage",
                "mail",
                "features",
                "http",
                "worker",
            ]
        )


# --------------------------------------------------------------------------- file renderers


def spread(
    rng: random.Random, units: list[list[Line]], marks: list[list[Line]], sep: int = 1
) -> list[Line]:
    """Interleave benign units and mark snippets (in random order), separated by blank lines."""
    chunks = units + marks
    order = list(range(len(chunks)))
    rng.shuffle(order)
    out: list[Line] = []
    for i in order:
        if out:
            out.extend(plain([""] * sep))
        out.extend(chunks[i])
    return out


def render_file(rng: random.Random, fmt: str, path: str, marks: list[Mark]) -> list[Line]:
    b = Benign(rng)
    fn = RENDERERS[fmt]
    return fn(rng, b, path, marks)


def r_py(rng: random.Random, b: Benign, path: str, marks: list[Mark]) -> list[Line]:
    head = [
        f'"""{b.sentence()}"""',
        "",
        "from __future__ import annotations",
        "",
        "import getpass",
        "import logging",
        "import os",
        "from collections.abc import Iterable",
        "from dataclasses import dataclass, field",
        "from datetime import datetime",
        "from typing import Any",
        "",
        "logger = logging.getLogger(__name__)",
        f'BASE_URL = "https://api.{rng.choice(COMPANY)}.io/v{rng.randint(1, 3)}"',
    ]
    units = [plain(b.py_unit()) for _ in range(rng.randint(3, 9))]
    body = spread(rng, units, [render_mark(rng, "py", m) for m in marks], sep=2)
    return plain(head) + plain(["", ""]) + body


def r_js(
    rng: random.Random, b: Benign, path: str, marks: list[Mark], ts: bool = False
) -> list[Line]:
    fmt = "ts" if ts else "js"
    head = [
        "import { getToken } from './auth';",
        "import { logger } from './logger';",
        "",
        f"const API_BASE = process.env.API_BASE || 'https://api.{rng.choice(COMPANY)}.io';",
    ]
    units = [plain(b.js_unit(ts)) for _ in range(rng.randint(3, 8))]
    return plain([*head, ""]) + spread(rng, units, [render_mark(rng, fmt, m) for m in marks])


def r_ts(rng: random.Random, b: Benign, path: str, marks: list[Mark]) -> list[Line]:
    return r_js(rng, b, path, marks, ts=True)


def r_go(rng: random.Random, b: Benign, path: str, marks: list[Mark]) -> list[Line]:
    pkg = Path(path).parent.name.replace("-", "")
    doc = b.sentence()
    head = [
        f"// Package {pkg}: {doc[0].lower()}{doc[1:]}",
        f"package {pkg}",
        "",
        "import (",
        '\t"context"',
        '\t"fmt"',
        '\t"os"',
        '\t"time"',
        ")",
        "",
        "type Service struct {",
        "\tdb *sql.DB",
        "}",
        "",
        "type Config struct {",
        "\tToken   string",
        "\tTimeout time.Duration",
        "}",
    ]
    units = [plain(b.go_unit()) for _ in range(rng.randint(3, 7))]
    return plain([*head, ""]) + spread(rng, units, [render_mark(rng, "go", m) for m in marks])


def r_java(rng: random.Random, b: Benign, path: str, marks: list[Mark]) -> list[Line]:
    cls = Path(path).stem
    parts = Path(path).parts
    pkg = ".".join(parts[parts.index("java") + 1 : -1]) if "java" in parts else "com.acme"
    head = [
        f"package {pkg};",
        "",
        "import java.util.Optional;",
        "import org.slf4j.Logger;",
        "import org.slf4j.LoggerFactory;",
        "",
        f"/** {b.sentence()} */",
        f"public class {cls} {{",
        f"    private static final Logger log = LoggerFactory.getLogger({cls}.class);",
        "",
    ]
    units = [plain(b.java_unit()) for _ in range(rng.randint(3, 7))]
    body = spread(rng, units, [render_mark(rng, "java", m) for m in marks])
    return plain(head) + indent(body, "    ") + plain(["}"])


def r_php(rng: random.Random, b: Benign, path: str, marks: list[Mark]) -> list[Line]:
    head = ["<?php", "", "declare(strict_types=1);", "", f"// {b.sentence()}", ""]
    units = [plain(b.php_unit()) for _ in range(rng.randint(2, 6))]
    return plain(head) + spread(rng, units, [render_mark(rng, "php", m) for m in marks])


def r_rb(rng: random.Random, b: Benign, path: str, marks: list[Mark]) -> list[Line]:
    head = [
        "# frozen_string_literal: true",
        "",
        f"# {b.sentence()}",
        "require 'json'",
        "require 'logger'",
        "",
    ]
    units = [plain(b.rb_unit()) for _ in range(rng.randint(2, 6))]
    mark_lines = []
    for m in marks:
        lines = render_mark(rng, "rb", m)
        if any(t.startswith("config.") for t, _ in lines):
            lines = [
                ("Rails.application.configure do |config|", None),
                *indent(lines, "  "),
                ("end", None),
            ]
        mark_lines.append(lines)
    return plain(head) + spread(rng, units, mark_lines)


def r_cs(rng: random.Random, b: Benign, path: str, marks: list[Mark]) -> list[Line]:
    cls = Path(path).stem
    head = [
        "using System;",
        "using System.Threading;",
        "using System.Threading.Tasks;",
        "using Microsoft.Extensions.Logging;",
        "",
        f"namespace Acme.{pascal([rng.choice(SERVICES)])};",
        "",
        f"/// <summary>{b.sentence()}</summary>",
        f"public class {cls}",
        "{",
    ]
    units = [plain(b.cs_unit()) for _ in range(rng.randint(2, 6))]
    body = spread(rng, units, [render_mark(rng, "cs", m) for m in marks])
    return plain(head) + indent(body, "    ") + plain(["}"])


def r_sh(rng: random.Random, b: Benign, path: str, marks: list[Mark]) -> list[Line]:
    head = [
        "#!/usr/bin/env bash",
        f"# {b.sentence()}",
        "set -euo pipefail",
        "",
        'log() { printf "%s %s\\n" "$(date -u +%FT%TZ)" "$*" >&2; }',
        "",
    ]
    units = [plain(b.sh_unit()) for _ in range(rng.randint(2, 5))]
    tail = ["", "main() {", f'  {snake([b.verb(), b.noun(), "s"])} "$@"', "}", "", 'main "$@"']
    return (
        plain(head) + spread(rng, units, [render_mark(rng, "sh", m) for m in marks]) + plain(tail)
    )


def sections(
    rng: random.Random, b: Benign, marks: list[Mark], fmt: str
) -> list[tuple[str, list[list[Line]]]]:
    """Benign config sections with the marks' snippets dropped into random sections."""
    names: list[str] = []
    while len(names) < rng.randint(3, 6):
        name = b.section_name()
        if name not in names:
            names.append(name)
    out: list[tuple[str, list[list[Line]]]] = []
    for name in names:
        entries: list[list[Line]] = []
        seen: set[str] = set()
        for _ in range(rng.randint(2, 6)):
            words, value = b.kv()
            if snake(words) in seen:
                continue
            seen.add(snake(words))
            entries.append([(render_kv(fmt, words, value), None)])
        out.append((name, entries))
    for m in marks:
        _, entries = rng.choice(out)
        entries.insert(rng.randint(0, len(entries)), render_mark(rng, fmt, m))
    return out


def render_kv(fmt: str, words: tuple[str, ...], value: str) -> str:
    numeric = value.isdigit() or value in ("true", "false")
    if fmt == "yaml":
        return f"{snake(words)}: {value if numeric else yaml_scalar(value)}"
    if fmt == "json":
        return f"{dq(camel(words))}: {value if numeric else dq(value)}"
    if fmt == "toml":
        return f"{snake(words)} = {value if numeric else dq(value)}"
    if fmt == "ini":
        return f"{snake(words)} = {value}"
    if fmt == "xml":
        return f'<add key="{pascal(words)}" value="{xml_escape(value)}" />'
    if fmt == "props":
        return f"{dotted(words)}={value}"
    if fmt == "env":
        return f"{upper_snake(words)}={value}"
    if fmt == "tf":
        return f"{snake(words)} = {value if numeric else dq(value)}"
    raise ValueError(fmt)


def r_yaml(rng: random.Random, b: Benign, path: str, marks: list[Mark]) -> list[Line]:
    name = Path(path).name
    if "docker-compose" in name or "compose" in name:
        return r_compose(rng, b, marks)
    if "/k8s/" in path or "deployment" in name:
        return r_k8s(rng, b, path, marks)
    out: list[Line] = plain([f"# {b.sentence()}"])
    for sec, entries in sections(rng, b, marks, "yaml"):
        out.append((f"{sec}:", None))
        for e in entries:
            out.extend(indent(e, "  "))
    return out


def env_entry_ok(m: Mark) -> bool:
    """Whether the mark can be written as an environment variable (a one-line literal)."""
    return (
        m.kind.raw is None
        and isinstance(m.value, str)
        and all(env_entry_ok(c) for c in m.companions)
    )


def yaml_env_entry(m: Mark, style: str) -> list[Line]:
    """An environment variable entry (with its companions): compose mapping or k8s list item."""
    assert isinstance(m.value, str)
    key = upper_snake(m.words)
    if style == "compose":
        lines = marked([f"{key}: {dq(m.value)}"], m)
    else:
        lines = [(f"- name: {key}", None), (f"  value: {dq(m.value)}", m)]
    for c in m.companions:
        lines += yaml_env_entry(c, style)
    return lines


def yaml_top_level(rng: random.Random, marks: list[Mark]) -> list[Line]:
    """Marks that are no environment variable go to an extension section at the end."""
    out: list[Line] = []
    for m in marks:
        out += plain(["", f"x-{rng.choice(['notes', 'defaults', 'extra'])}:"]) + indent(
            render_mark(rng, "yaml", m), "  "
        )
    return out


def r_compose(rng: random.Random, b: Benign, marks: list[Mark]) -> list[Line]:
    out = plain(["services:"])
    svcs = rng.sample(SERVICES, rng.randint(2, 4))
    env_for: dict[str, list[list[Line]]] = {s: [] for s in svcs}
    for m in marks:
        if env_entry_ok(m):
            env_for[rng.choice(svcs)].append(yaml_env_entry(m, "compose"))
    for s in svcs:
        out.extend(
            plain(
                [
                    f"  {s}:",
                    f"    image: registry.{rng.choice(COMPANY)}.io/{s}:{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}",
                    "    restart: unless-stopped",
                    "    ports:",
                    f'      - "{rng.randint(3000, 9000)}:8080"',
                    "    environment:",
                    f"      LOG_LEVEL: {rng.choice(['info', 'debug'])}",
                    f"      {upper_snake([b.noun(), 'queue'])}: {s}-events",
                ]
            )
        )
        for e in env_for[s]:
            out.extend(indent(e, "      "))
    return out + yaml_top_level(rng, [m for m in marks if not env_entry_ok(m)])


def r_k8s(rng: random.Random, b: Benign, path: str, marks: list[Mark]) -> list[Line]:
    app = rng.choice(SERVICES)
    out = plain(
        [
            "apiVersion: apps/v1",
            "kind: Deployment",
            "metadata:",
            f"  name: {app}",
            "  labels:",
            f"    app: {app}",
            "spec:",
            f"  replicas: {rng.randint(1, 6)}",
            "  selector:",
            "    matchLabels:",
            f"      app: {app}",
            "  template:",
            "    metadata:",
            "      labels:",
            f"        app: {app}",
            "    spec:",
            "      containers:",
            f"        - name: {app}",
            f"          image: registry.{rng.choice(COMPANY)}.io/{app}:{rng.randint(1, 9)}.{rng.randint(0, 30)}",
            "          env:",
            "            - name: LOG_LEVEL",
            "              value: info",
            "            - name: DB_PASSWORD",
            "              valueFrom:",
            "                secretKeyRef:",
            f"                  name: {app}-db",
            "                  key: password",
        ]
    )
    for m in marks:
        if env_entry_ok(m):
            out.extend(indent(yaml_env_entry(m, "k8s"), "            "))
    out.extend(
        plain(
            [
                "          resources:",
                "            limits:",
                f"              memory: {rng.choice([256, 512, 1024])}Mi",
            ]
        )
    )
    return out + yaml_top_level(rng, [m for m in marks if not env_entry_ok(m)])


def r_json(rng: random.Random, b: Benign, path: str, marks: list[Mark]) -> list[Line]:
    secs = sections(rng, b, marks, "json")
    out: list[Line] = plain(["{"])
    for si, (name, entries) in enumerate(secs):
        out.append((f"  {dq(name)}: {{", None))
        for ei, e in enumerate(entries):
            lines = indent(e, "    ")
            if ei < len(entries) - 1:
                text, m = lines[-1]
                lines[-1] = (text + ",", m)
            out.extend(lines)
        out.append(("  }" + ("," if si < len(secs) - 1 else ""), None))
    out.append(("}", None))
    return out


def r_xml(rng: random.Random, b: Benign, path: str, marks: list[Mark]) -> list[Line]:
    out: list[Line] = plain(
        ['<?xml version="1.0" encoding="utf-8"?>', f"<!-- {b.sentence()} -->", "<configuration>"]
    )
    for name, entries in sections(rng, b, marks, "xml"):
        out.append((f"  <{name}>", None))
        for e in entries:
            out.extend(indent(e, "    "))
        out.append((f"  </{name}>", None))
    out.append(("</configuration>", None))
    return out


def r_ini(rng: random.Random, b: Benign, path: str, marks: list[Mark]) -> list[Line]:
    out: list[Line] = plain([f"; {b.sentence()}"])
    for name, entries in sections(rng, b, marks, "ini"):
        out.extend(plain(["", f"[{name}]"]))
        for e in entries:
            out.extend(e)
    return out


def r_toml(rng: random.Random, b: Benign, path: str, marks: list[Mark]) -> list[Line]:
    out: list[Line] = plain(
        [
            f"# {b.sentence()}",
            f'name = "{rng.choice(SERVICES)}"',
            f'version = "{rng.randint(0, 3)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}"',
        ]
    )
    for name, entries in sections(rng, b, marks, "toml"):
        out.extend(plain(["", f"[{name}]"]))
        for e in entries:
            out.extend(e)
    return out


def r_flat(
    fmt: str, comment: str
) -> Callable[[random.Random, Benign, str, list[Mark]], list[Line]]:
    def render(rng: random.Random, b: Benign, path: str, marks: list[Mark]) -> list[Line]:
        units: list[list[Line]] = []
        for _ in range(rng.randint(2, 5)):
            sec = b.section_name()
            lines = [f"{comment} {sec}"]
            seen: set[str] = set()
            for _ in range(rng.randint(2, 6)):
                words, value = b.kv()
                if snake(words) not in seen:
                    seen.add(snake(words))
                    lines.append(render_kv(fmt, (sec, *words) if fmt == "props" else words, value))
            units.append(plain(lines))
        return spread(rng, units, [render_mark(rng, fmt, m) for m in marks])

    return render


def r_docker(rng: random.Random, b: Benign, path: str, marks: list[Mark]) -> list[Line]:
    svc = rng.choice(SERVICES)
    base: list[Line] = []
    rest: list[list[Line]] = []
    for m in marks:
        lines = render_mark(rng, "docker", m)
        if lines and lines[0][0].startswith("FROM "):
            base = lines
        else:
            rest.append(lines)
    head = base or plain(
        [f"FROM {rng.choice(['python:3.11-slim', 'node:20-alpine', 'golang:1.22-bookworm'])}"]
    )
    units = [
        plain(
            [
                "WORKDIR /app",
                "COPY requirements.txt ./",
                "RUN pip install --no-cache-dir -r requirements.txt",
            ]
        ),
        plain([f"ENV PORT={rng.choice([8000, 8080, 9000])}", "ENV PYTHONUNBUFFERED=1"]),
        plain(
            ["COPY . .", f"RUN useradd --create-home {svc} && chown -R {svc} /app", f"USER {svc}"]
        ),
    ]
    tail = plain(["", f"EXPOSE {rng.choice([8000, 8080])}", f'CMD ["python", "-m", "{svc}"]'])
    return (
        head
        + plain(
            [
                f'LABEL org.opencontainers.image.source="https://git.{rng.choice(COMPANY)}.io/{svc}"',
                "",
            ]
        )
        + spread(rng, units, rest)
        + tail
    )


def r_tf(rng: random.Random, b: Benign, path: str, marks: list[Mark]) -> list[Line]:
    units: list[list[Line]] = [
        plain(
            [
                "terraform {",
                '  required_version = ">= 1.5"',
                "  required_providers {",
                '    aws = { source = "hashicorp/aws", version = "~> 5.0" }',
                "  }",
                "}",
            ]
        ),
        plain(['provider "aws" {', f'  region = "{rng.choice(REGIONS)}"', "}"]),
    ]
    for _ in range(rng.randint(1, 3)):
        n = b.noun()
        units.append(
            plain(
                [
                    f'resource "aws_sqs_queue" "{n}" {{',
                    f'  name                      = "{rng.choice(SERVICES)}-{n}"',
                    f"  message_retention_seconds = {rng.choice([86400, 345600])}",
                    "  tags = {",
                    f'    Team = "{rng.choice(SERVICES)}"',
                    "  }",
                    "}",
                ]
            )
        )
    mark_units: list[list[Line]] = []
    for m in marks:
        inner = render_mark(rng, "tf", m)
        if rng.random() < 0.5:
            mark_units.append(
                [
                    (f'variable "{snake(m.words)}" {{', None),
                    ("  type    = string", None),
                    *indent(
                        [(t.replace(f"{snake(m.words)} =", "default =", 1), mm) for t, mm in inner],
                        "  ",
                    ),
                    ("}", None),
                ]
            )
        else:
            mark_units.append(
                [
                    (f'resource "kubernetes_secret" "{snake(m.words)}" {{', None),
                    ("  metadata {", None),
                    (f'    name = "{rng.choice(SERVICES)}"', None),
                    ("  }", None),
                    ("  data = {", None),
                    *indent(inner, "    "),
                    ("  }", None),
                    ("}", None),
                ]
            )
    return spread(rng, units, mark_units)


def r_md(rng: random.Random, b: Benign, path: str, marks: list[Mark]) -> list[Line]:
    title = (
        pascal([rng.choice(SERVICES)])
        + " "
        + rng.choice(["service", "runbook", "setup", "deployment notes"])
    )
    units: list[list[Line]] = []
    for _ in range(rng.randint(2, 5)):
        units.append(
            plain(
                [
                    f"## {b.verb().capitalize()} {b.noun()}s",
                    "",
                    b.sentence() + " " + b.sentence(),
                    "",
                    "```bash",
                    f"make {b.verb()}-{b.noun()}",
                    f"kubectl -n {rng.choice(SERVICES)} get pods",
                    "```",
                ]
            )
        )
    units.append(
        plain(
            [
                "## Configuration",
                "",
                "| Variable | Default | Description |",
                "| --- | --- | --- |",
                f"| `LOG_LEVEL` | `info` | {b.sentence()} |",
                f"| `{upper_snake([b.noun(), 'queue'])}` | - | Queue name |",
            ]
        )
    )
    mark_units = []
    for m in marks:
        lines = render_mark(rng, "md", m)
        intro = rng.choice(
            [
                "For local testing use:",
                "Example configuration:",
                "The staging credentials are:",
                "Then configure the client:",
            ]
        )
        mark_units.append(plain([intro, ""]) + lines)
    return plain([f"# {title}", "", b.sentence()]) + plain([""]) + spread(rng, units, mark_units)


# --- dedicated credential files --------------------------------------------------------------


def r_pem(rng: random.Random, b: Benign, path: str, marks: list[Mark]) -> list[Line]:
    out: list[Line] = []
    for m in marks:
        out.extend(render_mark(rng, "pem", m))
    return out


def r_authorized_keys(rng: random.Random, b: Benign, path: str, marks: list[Mark]) -> list[Line]:
    out: list[Line] = []
    for m in marks:
        out.extend(render_mark(rng, "authorized_keys", m))
    return out


def r_netrc(rng: random.Random, b: Benign, path: str, marks: list[Mark]) -> list[Line]:
    out: list[Line] = []
    for m in marks:
        h = host(rng, rng.choice(["ftp", "repo", "api"]))
        if rng.random() < 0.5:
            out.append((f"machine {h} login {user(rng)} password {m.value}", m))
        else:
            out.extend(
                [
                    (f"machine {h}", None),
                    (f"  login {user(rng)}", None),
                    (f"  password {m.value}", m),
                ]
            )
    return out


def r_pgpass(rng: random.Random, b: Benign, path: str, marks: list[Mark]) -> list[Line]:
    return [("# hostname:port:database:username:password", None)] + [
        (f"{host(rng, 'pg')}:5432:{rng.choice(DBNAMES)}:{user(rng)}:{m.value}", m) for m in marks
    ]


def r_git_credentials(rng: random.Random, b: Benign, path: str, marks: list[Mark]) -> list[Line]:
    out: list[Line] = []
    for m in marks:
        assert isinstance(m.value, str)
        value = m.value if m.kind.name != "git-credentials" else quote(m.value, safe="")
        domain = rng.choice(
            ["github.com", f"git.{rng.choice(COMPANY)}.io", "gitlab.com", "bitbucket.org"]
        )
        out.append((f"https://{user(rng)}:{value}@{domain}", m))
    return out


def r_htpasswd(rng: random.Random, b: Benign, path: str, marks: list[Mark]) -> list[Line]:
    return [(f"{user(rng)}:{m.value}", m) for m in marks]


def r_shadow(rng: random.Random, b: Benign, path: str, marks: list[Mark]) -> list[Line]:
    system = [
        "daemon:*:19576:0:99999:7:::",
        "bin:*:19576:0:99999:7:::",
        "sys:*:19576:0:99999:7:::",
        "www-data:*:19576:0:99999:7:::",
        "nobody:*:19576:0:99999:7:::",
        "postgres:!:19601::::::",
    ]
    out: list[Line] = [(f"root:{marks[0].value}:19601:0:99999:7:::", marks[0]), *plain(system)]
    out += [
        (f"{user(rng)}:{m.value}:{rng.randint(19000, 20000)}:0:99999:7:::", m) for m in marks[1:]
    ]
    return out


def r_docker_config(rng: random.Random, b: Benign, path: str, marks: list[Mark]) -> list[Line]:
    out: list[Line] = plain(["{", '  "auths": {'])
    for i, m in enumerate(marks):
        reg = rng.choice(
            [
                "https://index.docker.io/v1/",
                f"registry.{rng.choice(COMPANY)}.io",
                "ghcr.io",
                "quay.io",
            ]
        )
        out += [
            (f"    {dq(reg)}: {{", None),
            (f'      "auth": {dq(str(m.value))}', m),
            ("    }" + ("," if i < len(marks) - 1 else ""), None),
        ]
    out += plain(
        [
            "  },",
            '  "HttpHeaders": {',
            '    "User-Agent": "Docker-Client/24.0.7 (linux)"',
            "  }",
            "}",
        ]
    )
    return out


def r_kubeconfig(rng: random.Random, b: Benign, path: str, marks: list[Mark]) -> list[Line]:
    cluster = f"{rng.choice(ENVS)}-{rng.choice(REGIONS)}"
    out: list[Line] = plain(
        [
            "apiVersion: v1",
            "kind: Config",
            "clusters:",
            "- cluster:",
            f"    certificate-authority-data: {b64(joined(mk_certificate_pem(rng)).encode())}",
            f"    server: https://k8s.{rng.choice(COMPANY)}.io:6443",
            f"  name: {cluster}",
            "contexts:",
            "- context:",
            f"    cluster: {cluster}",
            f"    user: {cluster}-admin",
            f"  name: {cluster}",
            f"current-context: {cluster}",
            "users:",
            f"- name: {cluster}-admin",
            "  user:",
        ]
    )
    for m in marks:
        if m.kind.name == "jwt":
            out.append((f"    token: {m.value}", m))
        else:
            out.append(
                (
                    f"    client-certificate-data: {b64(joined(mk_certificate_pem(rng)).encode())}",
                    None,
                )
            )
            out.append((f"    client-key-data: {m.value}", m))
    return out


def r_npmrc(rng: random.Random, b: Benign, path: str, marks: list[Mark]) -> list[Line]:
    out: list[Line] = plain(["registry=https://registry.npmjs.org/", "save-exact=true"])
    for m in marks:
        reg = rng.choice(["//registry.npmjs.org/", "//npm.pkg.github.com/"])
        out.append((f"{reg}:_authToken={m.value}", m))
    return out


def r_pypirc(rng: random.Random, b: Benign, path: str, marks: list[Mark]) -> list[Line]:
    out: list[Line] = plain(["[distutils]", "index-servers =", "    pypi", "    testpypi", ""])
    for i, m in enumerate(marks):
        out += plain(["[pypi]" if i == 0 else "[testpypi]", "username = __token__"])
        out.append((f"password = {m.value}", m))
        out.append(("", None))
    return out


def r_aws_credentials(rng: random.Random, b: Benign, path: str, marks: list[Mark]) -> list[Line]:
    """~/.aws/credentials: one profile per access key id, its secret key on the next line."""
    out: list[Line] = []
    profiles = ["default", "ci", "backup", *ENVS]
    for m in marks:
        if out:
            out.append(("", None))
        out.append((f"[{profiles.pop(rng.randrange(len(profiles)))}]", None))
        out.append((f"aws_access_key_id = {m.value}", m))
        out += [(f"aws_secret_access_key = {c.value}", c) for c in m.companions]
        out.append((f"region = {rng.choice(REGIONS)}", None))
    return out


Renderer = Callable[[random.Random, Benign, str, list[Mark]], list[Line]]

RENDERERS: dict[str, Renderer] = {
    "py": r_py,
    "js": r_js,
    "ts": r_ts,
    "go": r_go,
    "java": r_java,
    "php": r_php,
    "rb": r_rb,
    "cs": r_cs,
    "sh": r_sh,
    "yaml": r_yaml,
    "json": r_json,
    "xml": r_xml,
    "ini": r_ini,
    "toml": r_toml,
    "env": r_flat("env", "#"),
    "props": r_flat("props", "#"),
    "docker": r_docker,
    "tf": r_tf,
    "md": r_md,
    "pem": r_pem,
    "pem_public": r_pem,
    "authorized_keys": r_authorized_keys,
    "netrc": r_netrc,
    "pgpass": r_pgpass,
    "git_credentials": r_git_credentials,
    "htpasswd": r_htpasswd,
    "shadow": r_shadow,
    "docker_config": r_docker_config,
    "kubeconfig": r_kubeconfig,
    "npmrc": r_npmrc,
    "pypirc": r_pypirc,
    "aws_credentials": r_aws_credentials,
}

# Formats whose files hold only credentials: no benign-only copies are generated.
DEDICATED = (
    "pem",
    "pem_public",
    "authorized_keys",
    "netrc",
    "pgpass",
    "git_credentials",
    "htpasswd",
    "shadow",
    "docker_config",
    "kubeconfig",
    "npmrc",
    "pypirc",
    "aws_credentials",
)


# --------------------------------------------------------------------------- the tree


def make_paths(rng: random.Random) -> dict[str, list[str]]:
    """Candidate file paths per format, like a polyglot monorepo plus a few home directories."""
    paths: dict[str, list[str]] = {f: [] for f in RENDERERS}

    def add(fmt: str, path: str) -> None:
        if all(path not in v for v in paths.values()):
            paths[fmt].append(path)

    def modname() -> str:
        return (
            f"{rng.choice(VERBS)}_{rng.choice(NOUNS)}"
            if rng.random() < 0.4
            else rng.choice(
                [
                    *NOUNS,
                    "settings",
                    "client",
                    "models",
                    "api",
                    "db",
                    "tasks",
                    "utils",
                    "config",
                    "auth",
                    "worker",
                ]
            )
        )

    py_svcs, js_svcs = SERVICES[:4], SERVICES[4:]
    for _ in range(46):
        svc = rng.choice(py_svcs)
        sub = rng.choice(["", "api/", "core/", "integrations/", "jobs/"])
        add("py", f"services/{svc}/src/{svc}/{sub}{modname()}.py")
    for _ in range(6):
        add("py", f"scripts/{modname()}.py")
    for _ in range(14):
        add(
            "js",
            f"web/{rng.choice(js_svcs)}/src/{rng.choice(['lib', 'components', 'api', 'utils'])}/{camel(modname().split('_'))}.js",
        )
    for _ in range(16):
        add(
            "ts",
            f"web/{rng.choice(js_svcs)}/src/{rng.choice(['lib', 'services', 'api', 'store'])}/{camel(modname().split('_'))}.ts",
        )
    for _ in range(16):
        add("go", f"go/{rng.choice(['internal', 'pkg', 'cmd'])}/{rng.choice(NOUNS)}/{modname()}.go")
    for _ in range(14):
        svc = rng.choice(SERVICES)
        add(
            "java",
            f"services/{svc}-java/src/main/java/com/acme/{svc}/{pascal(modname().split('_'))}.java",
        )
    for _ in range(12):
        add(
            "php", f"legacy/portal/{rng.choice(['src', 'lib', 'config', 'public'])}/{modname()}.php"
        )
    for _ in range(10):
        add("rb", f"tools/ruby/{rng.choice(['lib', 'config', 'app/models'])}/{modname()}.rb")
    for _ in range(10):
        add("cs", f"dotnet/{pascal([rng.choice(SERVICES)])}/{pascal(modname().split('_'))}.cs")
    for _ in range(16):
        add(
            "sh",
            f"{rng.choice(['scripts', 'ops', 'deploy/bin', 'ci'])}/{modname().replace('_', '-')}.sh",
        )
    for _ in range(8):
        add(
            "yaml",
            f"deploy/k8s/{rng.choice(SERVICES)}-{rng.choice(['deployment', 'worker', 'cron'])}.yaml",
        )
    for svc in rng.sample(SERVICES, 5):
        add("yaml", f"services/{svc}/docker-compose.yml")
    for _ in range(18):
        add(
            "yaml",
            f"{rng.choice(['config', 'deploy/helm', 'ansible/group_vars', 'services/' + rng.choice(SERVICES)])}/"
            f"{rng.choice(['values', 'settings', 'app', rng.choice(ENVS), rng.choice(NOUNS)])}.yaml",
        )
    for _ in range(18):
        add(
            "json",
            f"{rng.choice(['config', 'dotnet/' + pascal([rng.choice(SERVICES)]), 'web/' + rng.choice(js_svcs)])}/"
            f"{rng.choice(['appsettings', 'settings', 'config', rng.choice(ENVS), rng.choice(NOUNS)])}.json",
        )
    for _ in range(10):
        add(
            "xml",
            f"{rng.choice(['config', 'dotnet/' + pascal([rng.choice(SERVICES)])])}/{rng.choice(['web', 'app', 'services', rng.choice(ENVS)])}.config.xml",
        )
    for _ in range(8):
        add(
            "ini",
            f"{rng.choice(['config', 'tools', 'services/' + rng.choice(SERVICES)])}/{rng.choice(['app', 'setup', 'tox', rng.choice(ENVS)])}.ini",
        )
    for _ in range(10):
        add(
            "toml",
            f"{rng.choice(['config', 'services/' + rng.choice(SERVICES), 'tools'])}/{rng.choice(['config', 'settings', rng.choice(ENVS)])}.toml",
        )
    for _ in range(8):
        add(
            "env",
            f"{rng.choice(['', 'services/' + rng.choice(SERVICES) + '/', 'web/' + rng.choice(js_svcs) + '/'])}.env{rng.choice(['', '.local', '.production', '.staging'])}",
        )
    for _ in range(8):
        svc = rng.choice(SERVICES)
        add(
            "props",
            f"services/{svc}-java/src/main/resources/application{rng.choice(['', '-' + rng.choice(ENVS)])}.properties",
        )
    for _ in range(8):
        add(
            "docker",
            f"{rng.choice(['services/', 'docker/'])}{rng.choice(SERVICES)}/Dockerfile{rng.choice(['', '.dev', '.ci'])}",
        )
    for _ in range(12):
        add(
            "tf",
            f"infra/terraform/{rng.choice(['modules/' + rng.choice(NOUNS), rng.choice(ENVS)])}/{rng.choice(['main', 'variables', 'secrets', 'queues'])}.tf",
        )
    for _ in range(22):
        add(
            "md",
            f"{rng.choice(['docs', 'docs/runbooks', 'services/' + rng.choice(SERVICES)])}/{rng.choice(['README', 'SETUP', rng.choice(NOUNS) + '-notes', 'deploy', 'onboarding'])}.md",
        )
    homes = ["home/alice", "home/bob", "home/ci", "home/deploy"]
    for h in homes:
        add("netrc", f"{h}/.netrc")
        add("pgpass", f"{h}/.pgpass")
        add("git_credentials", f"{h}/.git-credentials")
        add("docker_config", f"{h}/.docker/config.json")
        add("kubeconfig", f"{h}/.kube/config")
        add("npmrc", f"{h}/.npmrc")
        add("pypirc", f"{h}/.pypirc")
        add("aws_credentials", f"{h}/.aws/credentials")
        add("authorized_keys", f"{h}/.ssh/authorized_keys")
    for p in ["etc/nginx/.htpasswd", "deploy/registry/auth/htpasswd", "ops/apache/.htpasswd"]:
        add("htpasswd", p)
    for p in ["etc/shadow", "docker/base/rootfs/etc/shadow", "ops/images/bastion/shadow"]:
        add("shadow", p)
    for p in [
        "keys/deploy.pem",
        "home/alice/.ssh/id_ed25519",
        "deploy/certs/server.key",
        "keys/jwt-signing.key",
        "home/bob/.ssh/id_rsa",
    ]:
        add("pem", p)
    for p in ["deploy/certs/ca.pem", "keys/public.pem", "docs/keys/service.pub.pem"]:
        add("pem_public", p)
    return paths


@dataclass
class Slot:
    path: str
    fmt: str
    marks: list[Mark] = field(default_factory=list)


@dataclass
class Corpus:
    files: dict[str, str]
    secrets: list[dict[str, object]]
    decoys: list[dict[str, object]]


def choose_slot(rng: random.Random, slots: list[Slot], used: list[str]) -> Slot:
    """Prefer files not already holding this kind and with few marks, so plantings spread out."""
    fresh = [s for s in slots if s.path not in used] or slots
    fewest = min(len(s.marks) for s in fresh)
    return rng.choice([s for s in fresh if len(s.marks) <= fewest + 1])


# The file where a kind most typically lives gets one of its plantings in every corpus.
TYPICAL_FORMAT = {
    "rsa-private-key": "pem",
    "openssh-private-key": "pem",
    "ec-private-key": "pem",
    "npm-token": "npmrc",
    "pypi-token": "pypirc",
    "aws-access-key-id": "aws_credentials",
    "public-key-pem": "pem_public",
    "certificate-pem": "pem_public",
    "ssh-public-key": "authorized_keys",
}


def choose_formats(rng: random.Random, kind: Kind) -> list[str]:
    """Formats for each planting of `kind`: distinct while the kind allows enough of them."""
    n = rng.randint(*kind.count)
    typical = TYPICAL_FORMAT.get(kind.name)
    formats = [f for f in kind.formats if f != typical]
    first = [typical] if typical else []
    n -= len(first)
    if len(formats) >= n:
        return first + rng.sample(formats, n)
    return first + [formats[i % len(formats)] for i in range(n)]


def flatten(marks: Sequence[Mark]) -> list[Mark]:
    out: list[Mark] = []
    for m in marks:
        out.append(m)
        out.extend(flatten(m.companions))
    return out


def generate(seed: int) -> Corpus:
    rng = random.Random(seed)
    slots = {fmt: [Slot(p, fmt) for p in ps] for fmt, ps in make_paths(rng).items()}
    counter = {"secret": 0, "decoy": 0}

    def new_mark(kind: Kind) -> Mark:
        counter[kind.role] += 1
        return Mark(
            f"{kind.role[0]}{counter[kind.role]:04d}", kind, kind.make(rng), rng.choice(kind.names)
        )

    for kind in SECRET_KINDS + DECOY_KINDS:
        used: list[str] = []
        for fmt in choose_formats(rng, kind):
            slot = choose_slot(rng, slots[fmt], used)
            used.append(slot.path)
            mark = new_mark(kind)
            if kind.name == "aws-access-key-id":
                mark.companions.append(new_mark(AWS_SECRET))
            slot.marks.append(mark)

    files: dict[str, str] = {}
    secrets: list[dict[str, object]] = []
    decoys: list[dict[str, object]] = []
    for fmt, pool in slots.items():
        for slot in pool:
            if fmt in DEDICATED and not slot.marks:
                continue
            lines = render_file(rng, fmt, slot.path, slot.marks)
            files[slot.path] = "\n".join(text for text, _ in lines) + "\n"
            spans: dict[str, list[int]] = {}
            for lineno, (_, m) in enumerate(lines, start=1):
                if m is not None:
                    spans.setdefault(m.ident, []).append(lineno)
            for m in flatten(slot.marks):
                if m.ident not in spans:
                    raise AssertionError(f"mark {m.ident} ({m.kind.name}) lost in {slot.path}")
                first, last = spans[m.ident][0], spans[m.ident][-1]
                value = m.value if isinstance(m.value, str) else "\n".join(m.value)
                entry: dict[str, object] = {
                    "id": m.ident,
                    "kind": m.kind.name,
                    "format": fmt,
                    "path": slot.path,
                }
                if m.kind.role == "secret":
                    secrets.append({**entry, "line_start": first, "line_end": last, "value": value})
                else:
                    decoys.append({**entry, "line": first, "line_end": last, "value": value})
    secrets.sort(key=lambda e: str(e["id"]))
    decoys.sort(key=lambda e: str(e["id"]))
    return Corpus(files, secrets, decoys)


def self_check(corpus: Corpus) -> None:
    """The manifest must be right: enough kinds, and every secret's value at its lines."""
    secret_kinds = {str(s["kind"]) for s in corpus.secrets}
    decoy_kinds = {str(d["kind"]) for d in corpus.decoys}
    if len(secret_kinds) < 40 or len(decoy_kinds) < 15:
        raise AssertionError(f"too few kinds: {len(secret_kinds)} secret, {len(decoy_kinds)} decoy")
    for s in corpus.secrets:
        text = corpus.files[str(s["path"])].split("\n")
        start, end = int(str(s["line_start"])), int(str(s["line_end"]))
        window = "\n".join(text[start - 1 : end])
        first = str(s["value"]).split("\n")[0]
        spellings = (first, xml_escape(first), quote(first, safe=""), json.dumps(first)[1:-1])
        if not any(x in window for x in spellings):
            raise AssertionError(f"secret {s['id']} ({s['kind']}) not at its lines in {s['path']}")


def write(corpus: Corpus, outdir: Path, seed: int) -> Path:
    outdir.mkdir(parents=True, exist_ok=True)
    for rel, text in sorted(corpus.files.items()):
        target = outdir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8", newline="\n")
    manifest = outdir.parent / f"{outdir.name}.manifest.json"
    doc = {
        "generator": "bench/corpus.py",
        "seed": seed,
        "tree": outdir.name,
        "files": len(corpus.files),
        "secret_kinds": sorted({str(s["kind"]) for s in corpus.secrets}),
        "decoy_kinds": sorted({str(d["kind"]) for d in corpus.decoys}),
        "secrets": corpus.secrets,
        "decoys": corpus.decoys,
    }
    manifest.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return manifest


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("outdir", type=Path, help="directory to create (must be empty or absent)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    outdir: Path = args.outdir.resolve()
    if outdir.exists() and any(outdir.iterdir()):
        parser.error(f"{outdir} exists and is not empty")
    corpus = generate(args.seed)
    self_check(corpus)
    manifest = write(corpus, outdir, args.seed)
    print(
        f"corpus: {len(corpus.files)} files, {len(corpus.secrets)} secrets "
        f"({len({s['kind'] for s in corpus.secrets})} kinds), {len(corpus.decoys)} decoys "
        f"({len({d['kind'] for d in corpus.decoys})} kinds) -> {outdir}; manifest {manifest}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
