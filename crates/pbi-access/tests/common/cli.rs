//! Run the binary's client commands against a `Demo`, configured by `PBI_ACCESS_*` alone, and
//! call Graph directly to set up a case.

use std::process::Stdio;

use serde_json::Value;
use tokio::process::Command;

use super::Demo;

pub struct Cli {
    pub env: Vec<(String, String)>,
}

impl Cli {
    pub fn new(demo: &Demo, dir: &std::path::Path) -> Cli {
        Cli::to(&demo.base, &demo.tenant, &demo.client_id, &demo.secret, dir)
    }

    /// Any pbi-access server, with these credentials.
    pub fn to(base: &str, tenant: &str, client_id: &str, secret: &str, dir: &std::path::Path) -> Cli {
        let env = vec![
            ("PBI_ACCESS_TENANT".to_string(), tenant.to_string()),
            ("PBI_ACCESS_CLIENT_ID".into(), client_id.to_string()),
            ("PBI_ACCESS_CLIENT_SECRET".into(), secret.to_string()),
            ("PBI_ACCESS_POWERBI_URL".into(), base.to_string()),
            ("PBI_ACCESS_AUTHORITY_URL".into(), base.to_string()),
            ("PBI_ACCESS_GRAPH_URL".into(), format!("{base}/graph")),
            ("PBI_ACCESS_LEDGER".into(), dir.join(format!("ledger-{tenant}.json")).display().to_string()),
            ("PBI_ACCESS_PROFILES".into(), dir.join("no-profiles.toml").display().to_string()),
        ];
        Cli { env }
    }

    /// The command to run, with this configuration and no input.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_pbi-access"));
        command.args(args).envs(self.env.clone()).stdin(Stdio::null());
        command
    }

    /// Exit code, stdout, stderr.
    pub async fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.command(args).output().await.unwrap();
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
    }

    /// Run with `--output json`, expect success, parse stdout.
    pub async fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.extend(["--output", "json"]);
        let (code, out, err) = self.run(&args).await;
        assert_eq!(code, 0, "{args:?}: {err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }
}

/// Rows of a JSON listing whose `key` column equals `value`.
pub fn rows_where<'a>(rows: &'a Value, key: &str, value: &str) -> Vec<&'a Value> {
    rows.as_array().unwrap().iter().filter(|r| r[key].as_str().is_some_and(|v| v.eq_ignore_ascii_case(value))).collect()
}

/// Graph calls with the demo app's Graph token.
pub struct Graph {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Graph {
    pub async fn new(demo: &Demo) -> Graph {
        let http = demo.http();
        let token = demo.token_for(&http, "https://graph.microsoft.com/.default").await;
        Graph { http, base: format!("{}/graph/v1.0", demo.base), token }
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method.clone(), format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// A member user `local@{domain}` that can sign in; returns its object id.
    pub async fn create_user(&self, upn: &str, display_name: &str) -> String {
        let nickname: String = upn.split('@').next().unwrap_or_default().chars().filter(char::is_ascii_alphanumeric).collect();
        let body = serde_json::json!({"accountEnabled": true, "displayName": display_name, "mailNickname": nickname,
                                      "userPrincipalName": upn, "passwordProfile": {"password": "Str0ng-Passw0rd!"}});
        self.send(reqwest::Method::POST, "/users", Some(body)).await["id"].as_str().unwrap().to_string()
    }

    pub async fn group_id(&self, name: &str) -> String {
        let found = self.send(reqwest::Method::GET, &format!("/groups?$filter=displayName eq '{name}'"), None).await;
        found["value"][0]["id"].as_str().unwrap_or_else(|| panic!("group {name}: {found}")).to_string()
    }

    pub async fn user_id(&self, upn: &str) -> String {
        self.send(reqwest::Method::GET, &format!("/users/{upn}"), None).await["id"].as_str().unwrap().to_string()
    }

    /// A security group holding these members (object ids).
    pub async fn create_group(&self, name: &str, members: &[&str]) -> String {
        let nickname: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
        let body = serde_json::json!({"displayName": name, "mailNickname": nickname, "mailEnabled": false, "securityEnabled": true});
        let id = self.send(reqwest::Method::POST, "/groups", Some(body)).await["id"].as_str().unwrap().to_string();
        for m in members {
            self.add_member(&id, m).await;
        }
        id
    }

    pub async fn add_member(&self, group: &str, member: &str) {
        let body = serde_json::json!({"@odata.id": format!("{}/directoryObjects/{member}", self.base)});
        self.send(reqwest::Method::POST, &format!("/groups/{group}/members/$ref"), Some(body)).await;
    }
}

/// A config file that makes licenses count at once (no propagation delay).
pub fn instant_licenses(dir: &std::path::Path) -> String {
    let path = dir.join("instant-licenses.toml");
    std::fs::write(&path, "[licenses]\npropagation_delay_secs = 0\n").unwrap();
    path.display().to_string()
}
