"""Microsoft's Fabric CLI (`fab`, PyPI `ms-fabric-cli`) against `pbi-access serve --tls`.

`fab` accepts only Microsoft's host names on https and port 443, so this process resolves
them itself: `socket.getaddrinfo` answers 127.0.0.1 and the server's real port for
login.microsoftonline.com, api.fabric.microsoft.com, api.powerbi.com and graph.microsoft.com.
Nothing outside this process changes (no hosts file). The TLS name checks stay on: the server's
certificate names those hosts and REQUESTS_CA_BUNDLE trusts the local CA that signed it.

`fab` signs in as the demo's service principal (FAB_SPN_CLIENT_ID / FAB_SPN_CLIENT_SECRET /
FAB_TENANT_ID, MSAL's client credentials for https://api.fabric.microsoft.com/.default), then
`acl ls|set|get|rm` a workspace and reads its role assignments with `fab api`, and every change is checked through the Power BI API (and one
made through Power BI is checked through `fab`).
"""

import argparse
import contextlib
import io
import json
import os
import socket
import sys
import tempfile

HOSTS = ("login.microsoftonline.com", "api.fabric.microsoft.com", "api.powerbi.com", "graph.microsoft.com")


def redirect_microsoft_hosts(port):
    real = socket.getaddrinfo

    def getaddrinfo(host, p, family=0, type=0, proto=0, flags=0):
        if isinstance(host, str) and host.lower().rstrip(".") in HOSTS:
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", port))]
        return real(host, p, family, type, proto, flags)

    socket.getaddrinfo = getaddrinfo


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--workspace", required=True, help="display name of a workspace the app is Admin of")
    parser.add_argument("--grant", required=True, help="UPN of a user without a role there")
    parser.add_argument("--viewer", required=True, help="UPN of a Viewer there")
    args = parser.parse_args()

    redirect_microsoft_hosts(args.port)
    home = tempfile.mkdtemp(prefix="fab-home-")
    os.environ.update(
        {
            "HOME": home,
            "FAB_SPN_CLIENT_ID": args.client_id,
            "FAB_SPN_CLIENT_SECRET": args.secret,
            "FAB_TENANT_ID": args.tenant,
        }
    )

    import msal
    import requests

    # The same app through MSAL, for the Power BI and Graph checks.
    app = msal.ConfidentialClientApplication(
        args.client_id, client_credential=args.secret, authority=f"https://login.microsoftonline.com/{args.tenant}"
    )

    def token(scope):
        result = app.acquire_token_for_client(scopes=[scope])
        assert "access_token" in result, result
        return result["access_token"]

    pbi = {"Authorization": "Bearer " + token("https://analysis.windows.net/powerbi/api/.default")}
    graph = {"Authorization": "Bearer " + token("https://graph.microsoft.com/.default")}

    users = requests.get(
        "https://graph.microsoft.com/v1.0/users", params={"$filter": f"userPrincipalName eq '{args.grant}'"}, headers=graph, timeout=30
    )
    assert users.status_code == 200, users.text
    grant_id = users.json()["value"][0]["id"]

    groups = requests.get("https://api.powerbi.com/v1.0/myorg/groups", headers=pbi, timeout=30).json()["value"]
    workspace_id = next(g["id"] for g in groups if g["name"] == args.workspace)

    def power_bi_role(upn):
        r = requests.get(f"https://api.powerbi.com/v1.0/myorg/groups/{workspace_id}/users", headers=pbi, timeout=30)
        assert r.status_code == 200, r.text
        for u in r.json()["value"]:
            if (u.get("identifier") or "").lower() == upn.lower():
                return u["groupUserAccessRight"]
        return None

    import importlib

    fab_main = importlib.import_module("fabric_cli.main")

    def fab(*argv):
        sys.argv = ["fab", *argv]
        out, err = io.StringIO(), io.StringIO()
        code = 0
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                fab_main.main()
            except SystemExit as e:
                code = e.code or 0
        text = out.getvalue() + err.getvalue()
        print(f"$ fab {' '.join(argv)}  [exit {code}]\n{text}")
        assert code == 0, text
        return text

    # No OS keyring here: fab keeps its token cache in plain text (in the temporary HOME).
    fab("config", "set", "encryption_fallback_enabled", "true")

    ws = f"{args.workspace}.Workspace"
    listed = fab("acl", "ls", ws, "-l", "--output_format", "json")
    assert _json_role(listed, args.viewer) == "Viewer", listed
    assert _json_role(listed, args.client_id) == "Admin", "the app itself, by its appId"

    fab("acl", "set", ws, "-I", grant_id, "-R", "Contributor", "-f")
    assert power_bi_role(args.grant) == "Contributor", "Power BI sees the role fab granted"

    # `fab api`, the raw REST command, calls https://api.fabric.microsoft.com/v1/<endpoint> with its token.
    raw = fab("api", f"workspaces/{workspace_id}/roleAssignments")
    assert '"status_code": 200' in raw and grant_id in raw and "Contributor" in raw, raw

    fab("acl", "set", ws, "-I", grant_id, "-R", "Member", "-f")
    assert power_bi_role(args.grant) == "Member", "Power BI sees the role fab changed"

    got = fab("acl", "get", ws, "-q", "[*].id", "--output_format", "json")
    assert grant_id in got, got

    # The other way: Power BI changes a role, fab reads it.
    r = requests.put(
        f"https://api.powerbi.com/v1.0/myorg/groups/{workspace_id}/users",
        headers=pbi,
        json={"identifier": args.viewer, "principalType": "User", "groupUserAccessRight": "Contributor"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    listed = fab("acl", "ls", ws, "--output_format", "json")
    assert _json_role(listed, args.viewer) == "Contributor", listed

    fab("acl", "rm", ws, "-I", args.grant, "-f")
    assert power_bi_role(args.grant) is None, "Power BI no longer lists the role fab removed"

    print("all Fabric CLI checks passed")


def _json_role(text, upn):
    """The role of `upn` in `fab acl ls --output_format json` output, whatever its envelope."""
    start = text.find("{")
    if start < 0:
        return None
    try:
        doc = json.loads(text[start:])
    except ValueError:
        return None
    found = []

    def walk(node):
        if isinstance(node, dict):
            if str(node.get("identity", "")).lower() == upn.lower():
                found.append(node.get("acl"))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    return found[0] if found else None


if __name__ == "__main__":
    main()
