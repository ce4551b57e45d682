"""Credentials from the environment: a token, or a GitHub App installation, over loopback.

Faked: GitHub (bot/sandbox/github.py issues installation tokens in GitHub's shape); the
JWT is signed by githubkit with a key generated here, as with a real App's private key.
"""

from __future__ import annotations

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.config import build_settings
from bot.core.clock import FakeClock
from bot.evidence.domain import VerdictStatus
from bot.evidence.github import GitHubClient
from bot.evidence.service import EvidenceRun
from bot.evidence.wiring import client_factory
from bot.sandbox.github import GitHubSandbox
from tests.evidence.harness import SPEC, VERSION

SERVICE = {
    "name": "gw",
    "prometheus_url": "http://127.0.0.1:9090",
    "kubernetes": {"production": {"namespace": "p", "deployment": "gw"}},
    "github": {"repository": "nexis/nexis", "assets": ["x-{version}"]},
}


def private_key() -> tuple[str, rsa.RSAPublicKey]:
    """Return a fresh RSA private key as PEM, and its public key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    return pem, key.public_key()


async def test_a_github_app_signs_in_as_its_installation(
    github: GitHubSandbox, clock: FakeClock
) -> None:
    """Sign a JWT with the App key, trade it for an installation token, read with that."""
    pem, public = private_key()
    env = {"RELEASEBOT_GITHUB_APP_PRIVATE_KEY": pem}
    settings = build_settings(
        {
            "github": {"enabled": True, "api_url": github.base_url, "app_id": 4242,
                       "installation_id": 77},
            "services": [SERVICE],
        },
        env=env,
    )  # fmt: skip
    client = client_factory(settings, clock)()
    assert isinstance(client, GitHubClient) and client.token is None
    verdict = await EvidenceRun(client, SPEC, VERSION).check("github.tag")
    assert verdict.status is VerdictStatus.PASS
    exchange, read = github.requests[:2]
    assert (exchange.method, exchange.path) == ("POST", "/app/installations/77/access_tokens")
    scheme, _, token = exchange.authorization.partition(" ")
    assert scheme == "Bearer"
    claims = jwt.decode(token, public, algorithms=["RS256"])
    assert claims["iss"] == "4242"
    assert read.authorization == "token ghs_sandbox77x1"


async def test_a_token_is_sent_as_is(github: GitHubSandbox, clock: FakeClock) -> None:
    """RELEASEBOT_GITHUB_TOKEN goes in the Authorization header, never elsewhere."""
    settings = build_settings(
        {"github": {"enabled": True, "api_url": github.base_url}, "services": [SERVICE]},
        env={"RELEASEBOT_GITHUB_TOKEN": "ghp_from_env"},
    )
    client = client_factory(settings, clock)()
    assert (await EvidenceRun(client, SPEC, VERSION).check("github.branch")).is_pass
    assert [r.authorization for r in github.requests] == ["token ghp_from_env"]
