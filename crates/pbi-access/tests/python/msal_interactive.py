"""MSAL Python's interactive flows against pbi-access, with a person played by plain HTTP.

The authorization code flow: `initiate_auth_code_flow`, then this script GETs the `auth_uri`,
fills in the sign-in form and POSTs it, reads the redirect's query parameters and hands them to
`acquire_token_by_auth_code_flow`. The device code flow: `initiate_device_flow`, and while MSAL
polls in `acquire_token_by_device_flow`, a thread enters the user code on the verification page
and signs in. Each token then lists workspaces, and a silent refresh rotates the refresh token.

Run by crates/pbi-access/tests/microsoft_clients.rs against `pbi-access serve --tls`. By hand:

    REQUESTS_CA_BUNDLE=pbi-access-tls/ca.pem python3 msal_interactive.py \
        --url https://127.0.0.1:8080 --tenant TENANT --client-id PUBLIC_CLIENT \
        --username admin@contoso.onmicrosoft.com --password PASSWORD

Exit status 0 when every check passed; 3 when msal is not installed.
"""

import argparse
import html
import re
import sys
import threading
from urllib.parse import parse_qsl, urljoin, urlsplit

try:
    import msal
    import requests
except ImportError as e:
    print(f"missing Python package: {e.name}", file=sys.stderr)
    sys.exit(3)

SCOPE = "https://analysis.windows.net/powerbi/api/.default"


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def form_of(page):
    """The first form of a page: its action and its hidden fields."""
    form = re.search(r'<form[^>]*action="([^"]*)"', page)
    check(form, f"no form on the page: {page[:500]}")
    fields = {}
    for tag in re.findall(r"<input[^>]*>", page):
        if 'type="hidden"' in tag:
            name = re.search(r'name="([^"]*)"', tag).group(1)
            value = re.search(r'value="([^"]*)"', tag)
            fields[html.unescape(name)] = html.unescape(value.group(1)) if value else ""
    return html.unescape(form.group(1)), fields


def submit(session, page_url, page, extra):
    action, fields = form_of(page)
    fields.update(extra)
    return session.post(urljoin(page_url, action), data=fields, allow_redirects=False, timeout=30)


def list_groups(url, token, who):
    r = requests.get(f"{url}/v1.0/myorg/groups", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    check(r.status_code == 200, f"{who}: GET /groups answered {r.status_code}: {r.text}")
    print(f"ok: {who}: GET /v1.0/myorg/groups -> 200 ({len(r.json()['value'])} workspaces)")


def token_of(result, who):
    check("access_token" in result, f"{who}: no token: {result.get('error')}: {result.get('error_description')}")
    return result["access_token"]


def auth_code_flow(a, app):
    flow = app.initiate_auth_code_flow(scopes=[SCOPE], redirect_uri="http://localhost:8400")
    browser = requests.Session()
    page = browser.get(flow["auth_uri"], allow_redirects=False, timeout=30)
    check(page.status_code == 200, f"sign-in page: {page.status_code} {re.findall(r'AADSTS[^<]*', page.text)}")
    wrong = submit(browser, flow["auth_uri"], page.text, {"username": a.username, "password": "not the password"})
    check(wrong.status_code == 200 and "AADSTS50126" in wrong.text, "a wrong password shows AADSTS50126 on the page")
    done = submit(browser, flow["auth_uri"], wrong.text, {"username": a.username, "password": a.password})
    check(done.status_code == 302, f"sign-in: {done.status_code} {done.text[:300]}")
    location = done.headers["Location"]
    check(location.startswith("http://localhost:8400/?"), f"redirect: {location}")
    params = dict(parse_qsl(urlsplit(location).query))
    result = app.acquire_token_by_auth_code_flow(flow, params)
    list_groups(a.url, token_of(result, "msal auth code flow"), "msal auth code flow")
    claims = result.get("id_token_claims", {})
    check(claims.get("preferred_username", "").lower() == a.username.lower(), f"ID token: {claims}")
    accounts = app.get_accounts(username=a.username)
    check(accounts, "msal cached the signed-in account")
    refreshed = app.acquire_token_silent_with_error([SCOPE], account=accounts[0], force_refresh=True)
    list_groups(a.url, token_of(refreshed or {}, "msal silent refresh"), "msal silent refresh (rotated refresh token)")


def device_flow(a, app):
    flow = app.initiate_device_flow(scopes=[SCOPE])
    check("user_code" in flow, f"device flow: {flow}")
    failures = []

    def person():
        try:
            browser = requests.Session()
            url = flow["verification_uri"]
            page = browser.get(url, timeout=30)
            check(page.status_code == 200, f"verification page: {page.status_code}")
            step = submit(browser, url, page.text, {"user_code": flow["user_code"]})
            check(step.status_code == 200 and 'name="password"' in step.text, f"code step: {step.status_code} {step.text[:300]}")
            done = submit(browser, url, step.text, {"username": a.username, "password": a.password})
            check(done.status_code == 200, f"device sign-in: {done.status_code} {done.text[:300]}")
            print("ok: the person entered the code and signed in on the verification page")
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            failures.append(e)

    helper = threading.Thread(target=person)
    helper.start()
    # MSAL polls until the code expires; two minutes are plenty for the person above.
    flow["expires_at"] = flow["expires_at"] - flow.get("expires_in", 900) + 120
    result = app.acquire_token_by_device_flow(flow)
    helper.join()
    check(not failures, f"the verification page failed: {failures}")
    list_groups(a.url, token_of(result, "msal device flow"), "msal device flow")


def main():
    p = argparse.ArgumentParser()
    for name in ("url", "tenant", "client-id", "username", "password"):
        p.add_argument(f"--{name}", required=True)
    a = p.parse_args()
    app = msal.PublicClientApplication(
        a.client_id,
        authority=f"{a.url}/{a.tenant}",
        instance_discovery=f"{a.url}/common/discovery/instance",
    )
    auth_code_flow(a, app)
    device_flow(a, app)
    print("all MSAL interactive checks passed")


if __name__ == "__main__":
    main()
