"""Real Microsoft clients against pbi-access: MSAL Python and azure-identity get tokens from it
over HTTPS, and each token then works on GET /v1.0/myorg/groups.

Run by crates/pbi-access/tests/microsoft_clients.rs, which starts `pbi-access serve --tls` and
points REQUESTS_CA_BUNDLE at the generated CA. By hand:

    REQUESTS_CA_BUNDLE=pbi-access-tls/ca.pem python3 msal_clients.py \
        --url https://127.0.0.1:8080 --tenant TENANT --client-id CLIENT --secret SECRET \
        --username admin@contoso.onmicrosoft.com --password PASSWORD

With a certificate instead (an app whose TenantSpec has `certificates: [{"pem": …}]`):

    REQUESTS_CA_BUNDLE=pbi-access-tls/ca.pem python3 msal_clients.py \
        --url https://127.0.0.1:8080 --tenant TENANT --client-id CLIENT \
        --certificate cert.pem --private-key key.pem

Exit status 0 when every check passed; 3 when msal or azure-identity is not installed.
"""

import argparse
import sys
import warnings
from urllib.parse import urlsplit

try:
    import msal
    import requests
    from azure.identity import CertificateCredential, ClientSecretCredential
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
except ImportError as e:  # The Rust test turns this into "skipped" (unless told it must run).
    print(f"missing Python package: {e.name}", file=sys.stderr)
    sys.exit(3)

SCOPE = "https://analysis.windows.net/powerbi/api/.default"


class KeepPort(requests.Session):
    """MSAL asks the user realm before the password grant at https://{host}/common/userrealm/…,
    built from the host name alone: on any port but 443 it would knock on the wrong door.
    This session (MSAL's public `http_client` parameter) puts the port back."""

    def __init__(self, base_url):
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.portless = f"https://{urlsplit(base_url).hostname}/"

    def request(self, method, url, *args, **kwargs):
        if url.startswith(self.portless):
            url = f"{self.base_url}/{url[len(self.portless):]}"
        return super().request(method, url, *args, **kwargs)


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def list_groups(url, token, who):
    r = requests.get(f"{url}/v1.0/myorg/groups", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    check(r.status_code == 200, f"{who}: GET /groups answered {r.status_code}: {r.text}")
    names = sorted(g["name"] for g in r.json()["value"])
    check(names, f"{who}: GET /groups listed no workspace")
    print(f"ok: {who}: GET /v1.0/myorg/groups -> 200 {names}")


def token_of(result, who):
    check("access_token" in result, f"{who}: no token: {result.get('error')}: {result.get('error_description')}")
    return result["access_token"]


def certificate_checks(a, authority):
    """Client credentials with a certificate: MSAL's {"private_key", "thumbprint"} and
    azure-identity's CertificateCredential sign a client assertion pbi-access verifies."""
    with open(a.certificate, "rb") as f:
        cert_pem = f.read()
    with open(a.private_key, "rb") as f:
        key_pem = f.read()
    thumbprint = x509.load_pem_x509_certificate(cert_pem).fingerprint(hashes.SHA1()).hex().upper()
    cca = msal.ConfidentialClientApplication(
        a.client_id,
        authority=authority,
        client_credential={"private_key": key_pem.decode(), "thumbprint": thumbprint},
        instance_discovery=False,
    )
    result = cca.acquire_token_for_client(scopes=[SCOPE])
    list_groups(a.url, token_of(result, "msal certificate"), "msal certificate")

    # azure-identity reads the key and the certificate from one PEM file.
    combined = f"{a.private_key}.with-cert.pem"
    with open(combined, "wb") as f:
        f.write(key_pem + b"\n" + cert_pem)
    credential = CertificateCredential(a.tenant, a.client_id, combined, authority=a.url, disable_instance_discovery=True)
    list_groups(a.url, credential.get_token(SCOPE).token, "azure-identity CertificateCredential")

    # A thumbprint the app does not have is refused in Entra's words.
    bad = msal.ConfidentialClientApplication(
        a.client_id,
        authority=authority,
        client_credential={"private_key": key_pem.decode(), "thumbprint": "00" * 20},
        instance_discovery=False,
    ).acquire_token_for_client(scopes=[SCOPE])
    check(bad.get("error") == "invalid_client" and 700027 in bad.get("error_codes", []), f"unknown certificate: {bad}")
    print("ok: msal unknown certificate -> invalid_client AADSTS700027")
    print("all Microsoft certificate checks passed")


def main():
    p = argparse.ArgumentParser()
    for name in ("url", "tenant", "client-id"):
        p.add_argument(f"--{name}", required=True)
    for name in ("secret", "username", "password", "certificate", "private-key"):
        p.add_argument(f"--{name}")
    a = p.parse_args()
    authority = f"{a.url}/{a.tenant}"
    if a.certificate:
        certificate_checks(a, authority)
        return

    # 1. MSAL, confidential client, client credentials. Instance discovery goes to pbi-access's
    #    own /common/discovery/instance (MSAL's default would ask login.microsoftonline.com).
    cca = msal.ConfidentialClientApplication(
        a.client_id,
        authority=authority,
        client_credential=a.secret,
        instance_discovery=f"{a.url}/common/discovery/instance",
    )
    result = cca.acquire_token_for_client(scopes=[SCOPE])
    list_groups(a.url, token_of(result, "msal client credentials"), "msal client credentials")
    again = cca.acquire_token_for_client(scopes=[SCOPE])
    check(again.get("token_source") == "cache", f"msal: second call should come from the cache: {again.get('token_source')}")

    # 2. azure-identity: the authority is the host; the tenant is given separately.
    credential = ClientSecretCredential(
        a.tenant, a.client_id, a.secret, authority=a.url, disable_instance_discovery=True
    )
    access = credential.get_token(SCOPE)
    check(access.expires_on > 0, "azure-identity: no expiry")
    list_groups(a.url, access.token, "azure-identity ClientSecretCredential")

    # 3. MSAL, public client, username and password (ROPC), then a silent refresh.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # MSAL deprecates ROPC for public clients
        pca = msal.PublicClientApplication(
            a.client_id, authority=authority, instance_discovery=False, http_client=KeepPort(a.url)
        )
        result = pca.acquire_token_by_username_password(a.username, a.password, scopes=[SCOPE])
    first = token_of(result, "msal password")
    check("refresh_token" in result, "msal password: no refresh token (MSAL asks for offline_access)")
    check(result.get("id_token_claims", {}).get("preferred_username") == a.username, f"msal password: id token {result.get('id_token_claims')}")
    list_groups(a.url, first, "msal password grant")
    accounts = pca.get_accounts(username=a.username)
    check(len(accounts) == 1, f"msal: expected one cached account, got {accounts}")
    refreshed = pca.acquire_token_silent([SCOPE], account=accounts[0], force_refresh=True)
    check(refreshed is not None, "msal: acquire_token_silent found nothing")
    second = token_of(refreshed, "msal refresh")
    check(refreshed.get("token_source") == "identity_provider", f"msal refresh: not refreshed: {refreshed.get('token_source')}")
    check(second != first, "msal refresh: the same access token came back")
    list_groups(a.url, second, "msal refresh_token grant")
    # The same account's refresh token gets a Graph token for a Graph scope, which Graph takes.
    graph = pca.acquire_token_silent(["User.Read"], account=accounts[0])
    check(graph is not None, "msal: no Graph token from the cached refresh token")
    graph_token = token_of(graph, "msal Graph (silent)")
    r = requests.get(f"{a.url}/graph/v1.0/users/{a.username}", headers={"Authorization": f"Bearer {graph_token}"}, timeout=30)
    check(r.status_code == 200, f"msal Graph token: GET /graph/v1.0/users answered {r.status_code}: {r.text}")
    r = requests.get(f"{a.url}/graph/v1.0/users/{a.username}", headers={"Authorization": f"Bearer {second}"}, timeout=30)
    check(r.status_code == 401, f"a Power BI token on Graph answered {r.status_code}, not 401")
    print("ok: msal acquire_token_silent(User.Read) -> a Graph token Graph accepts; Graph refuses the Power BI token")

    # 4. A bad secret is refused in Entra's words.
    bad = msal.ConfidentialClientApplication(
        a.client_id, authority=authority, client_credential="wrong", instance_discovery=False
    ).acquire_token_for_client(scopes=[SCOPE])
    check(bad.get("error") == "invalid_client" and 7000215 in bad.get("error_codes", []), f"bad secret: {bad}")
    print("ok: msal bad secret -> invalid_client AADSTS7000215")
    print("all Microsoft client checks passed")


if __name__ == "__main__":
    main()
