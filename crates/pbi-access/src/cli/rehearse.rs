//! `pbi-access rehearse [--snapshot FILE] -- COMMAND ARGS...`: run a command against a local
//! twin instead of the tenant. The twin is a pbi-access server started in this process on a
//! temporary SQLite file, made from a snapshot (`audit --all --output snapshot`, taken now from
//! the profile's tenant when no file is given) with a fresh secret for the automation app. The
//! command runs as a child process pointed at the twin; then the audit before and after is
//! diffed, and the admin calls and time it took are reported. The tenant itself is only read.

use std::path::Path;
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::time::Instant;

use pbi_server::config::Config;
use pbi_server::store::Store;
use pbi_server::tenant::{self, SecretSpec, TenantSpec};
use pbi_server::{Application, SystemClock};

use super::audit::fresh_secret;
use super::commands::fail;
use super::directory::ledger_calls;
use super::exit;
use super::profile::Profile;

/// A twin server running in this process.
struct Twin {
    profile: Profile,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Twin {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Twin {
    fn env(&self) -> Vec<(&'static str, String)> {
        let p = &self.profile;
        vec![
            ("PBI_ACCESS_TENANT", p.tenant.clone().unwrap_or_default()),
            ("PBI_ACCESS_CLIENT_ID", p.client_id.clone().unwrap_or_default()),
            ("PBI_ACCESS_CLIENT_SECRET", p.client_secret.clone().unwrap_or_default()),
            ("PBI_ACCESS_POWERBI_URL", p.powerbi_url.clone()),
            ("PBI_ACCESS_AUTHORITY_URL", p.authority_url.clone()),
            ("PBI_ACCESS_GRAPH_URL", p.graph_url.clone()),
            ("PBI_ACCESS_ADMIN_BUDGET_PER_HOUR", p.admin_budget_per_hour.to_string()),
            ("PBI_ACCESS_LEDGER", p.ledger.as_ref().map(|l| l.display().to_string()).unwrap_or_default()),
        ]
    }

    /// Run this binary with `args` against the twin; stdout captured or shown.
    async fn run(&self, args: &[String], capture: bool, profiles: &Path) -> Result<(i32, String), String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
        let mut cmd = tokio::process::Command::new(exe);
        cmd.args(args).envs(self.env()).env("PBI_ACCESS_PROFILES", profiles).stdin(Stdio::null());
        // The twin signs in its automation app; a user sign-in meant for the tenant must not leak in.
        cmd.env_remove("PBI_ACCESS_USERNAME").env_remove("PBI_ACCESS_PASSWORD");
        if !capture {
            // `output()` would pipe (and drop) what the command prints: let it reach the terminal,
            // and let it ask for confirmation.
            cmd.stdin(Stdio::inherit());
            let status = cmd.status().await.map_err(|e| format!("cannot run {args:?}: {e}"))?;
            return Ok((status.code().unwrap_or(1), String::new()));
        }
        let out = cmd.output().await.map_err(|e| format!("cannot run {args:?}: {e}"))?;
        if !out.status.success() {
            return Err(format!("{args:?} failed on the twin: {}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok((out.status.code().unwrap_or(1), String::from_utf8_lossy(&out.stdout).into_owned()))
    }

    async fn audit(&self, profiles: &Path) -> Result<Vec<String>, String> {
        let args: Vec<String> = ["audit", "--all", "--output", "json"].iter().map(|s| s.to_string()).collect();
        let (_, text) = self.run(&args, true, profiles).await?;
        let rows: Vec<serde_json::Value> = serde_json::from_str(&text).map_err(|e| format!("the twin's audit is not JSON: {e}"))?;
        let mut lines: Vec<String> = rows
            .iter()
            .map(|r| super::audit::COLUMNS.iter().map(|c| r[*c].as_str().unwrap_or_default().to_string()).collect::<Vec<_>>().join(" | "))
            .collect();
        lines.sort();
        Ok(lines)
    }
}

async fn start_twin(spec: &TenantSpec, dir: &Path, base_profile: &Profile, secret: &str) -> Result<Twin, String> {
    let url = format!("sqlite://{}", dir.join("twin.db").display());
    let store = Store::connect(&url).await.map_err(|e| format!("cannot create the twin database: {e}"))?;
    let made = tenant::provision(&store, &SystemClock, spec).await.map_err(|e| format!("the snapshot does not import: {e}"))?;
    let app_id = spec
        .service_principals
        .iter()
        .find(|sp| sp.secrets.iter().any(|s| s.value == secret))
        .and_then(|sp| made.service_principals.get(&sp.display_name))
        .map(|(_, app)| app.to_string())
        .ok_or("the snapshot has no automation app")?;
    // The twin counts the admin budget as the profile says the service does.
    let mut config = Config { listen: "127.0.0.1:0".into(), database: url, demo: false, ..Config::default() };
    config.throttling.admin_budget = base_profile.throttling.admin_budget;
    let app =
        Application::build_with_store(config, Arc::new(SystemClock), store).await.map_err(|e| format!("cannot start the twin: {e:#}"))?;
    let base = app.public_url().trim_end_matches('/').to_string();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    let profile = Profile {
        tenant: Some(made.tenant.id.to_string()),
        client_id: Some(app_id),
        client_secret: Some(secret.to_string()),
        client_certificate: None,
        client_key: None,
        // The twin's users have no password: rehearsals sign in as the automation app.
        username: None,
        password: None,
        powerbi_url: base.clone(),
        authority_url: base.clone(),
        graph_url: format!("{base}/graph"),
        admin_budget_per_hour: base_profile.admin_budget_per_hour,
        throttling: base_profile.throttling.clone(),
        max_wait_secs: base_profile.max_wait_secs,
        ledger: Some(dir.join("twin-ledger.json")),
        apply_step_delay_ms: base_profile.apply_step_delay_ms,
    };
    Ok(Twin { profile, shutdown: Some(tx) })
}

/// `profile_args`: the `--profile`/`--profiles` flags, passed on to the snapshot taken now.
pub async fn rehearse(profile: &Profile, profile_args: &[String], snapshot: Option<&Path>, command: &[String]) -> ExitCode {
    if command.is_empty() {
        return fail(exit::USAGE, "name the command to rehearse: pbi-access rehearse -- onboard …");
    }
    if matches!(command[0].as_str(), "serve" | "tenant" | "seed" | "rehearse") {
        return fail(exit::USAGE, format!("'{}' does not run against a tenant; nothing to rehearse", command[0]));
    }
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => return fail(exit::FAILURE, format!("cannot make a temporary directory: {e}")),
    };
    let no_profiles = dir.path().join("no-profiles.toml");
    // The snapshot: the given file, or one taken now from the profile's tenant (reads only).
    let path = match snapshot {
        Some(p) => p.to_path_buf(),
        None => {
            let path = dir.path().join("tenant.snapshot.json");
            let exe = match std::env::current_exe() {
                Ok(e) => e,
                Err(e) => return fail(exit::FAILURE, format!("cannot find this binary: {e}")),
            };
            eprintln!("taking a snapshot of the tenant (audit --all --output snapshot)…");
            let status = tokio::process::Command::new(exe)
                .args(["audit", "--all", "--output", "snapshot", "--out"])
                .arg(&path)
                .args(profile_args)
                .stdout(Stdio::null())
                .status()
                .await;
            if !status.is_ok_and(|s| s.success()) {
                return fail(exit::FAILURE, "could not take a snapshot of the tenant");
            }
            path
        }
    };
    let mut spec: TenantSpec =
        match std::fs::read_to_string(&path).map_err(|e| e.to_string()).and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string())) {
            Ok(s) => s,
            Err(e) => return fail(exit::USAGE, format!("{} is not a tenant snapshot: {e}", path.display())),
        };
    // A fresh secret for the automation app: the profile's app if the snapshot has it, else the
    // first app with a secret.
    let secret = fresh_secret();
    let wanted = profile.client_id.as_deref().and_then(|c| uuid::Uuid::parse_str(c).ok());
    let index = spec
        .service_principals
        .iter()
        .position(|sp| sp.app_id.is_some() && sp.app_id == wanted)
        .or_else(|| spec.service_principals.iter().position(|sp| !sp.secrets.is_empty()));
    let Some(index) = index else { return fail(exit::USAGE, "the snapshot has no service principal to run the command as") };
    spec.service_principals[index].secrets = vec![SecretSpec { value: secret.clone(), hash: None, expires_at: None }];
    let twin = match start_twin(&spec, dir.path(), profile, &secret).await {
        Ok(t) => t,
        Err(e) => return fail(exit::FAILURE, e),
    };
    let before = match twin.audit(&no_profiles).await {
        Ok(a) => a,
        Err(e) => return fail(exit::FAILURE, e),
    };
    eprintln!("rehearsing `pbi-access {}` on a twin of {} workspace(s)…", command.join(" "), spec.workspaces.len());
    let calls_before = ledger_calls(&twin.profile).await;
    let started = Instant::now();
    let code = match twin.run(command, false, &no_profiles).await {
        Ok((code, _)) => code,
        Err(e) => return fail(exit::FAILURE, e),
    };
    let elapsed = started.elapsed();
    let calls = ledger_calls(&twin.profile).await.saturating_sub(calls_before);
    let after = match twin.audit(&no_profiles).await {
        Ok(a) => a,
        Err(e) => return fail(exit::FAILURE, e),
    };
    println!("\nrehearsal: the command exited with {code}; the tenant itself was not changed");
    let removed: Vec<&String> = before.iter().filter(|l| !after.contains(l)).collect();
    let added: Vec<&String> = after.iter().filter(|l| !before.contains(l)).collect();
    if removed.is_empty() && added.is_empty() {
        println!("audit diff: no change");
    } else {
        println!("audit diff (workspace | principal | principalType | role | via | licenseType | userType | account | flags):");
        for l in removed {
            println!("- {l}");
        }
        for l in added {
            println!("+ {l}");
        }
    }
    let budget = profile.admin_budget_per_hour.max(1) as usize;
    let wait = if calls > budget {
        format!(", and at least {} hour(s) of waiting for the budget", calls.div_ceil(budget) - 1)
    } else {
        String::new()
    };
    println!("cost: {calls} admin call(s) of the {budget}/hour budget, {:.1} s on the twin{wait}", elapsed.as_secs_f64());
    if code == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::FAILURE)
    }
}
