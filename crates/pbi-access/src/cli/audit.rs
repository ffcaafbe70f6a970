//! `pbi-access audit [--workspace W | --all] [--output table|json|csv|snapshot]`: every principal
//! with its role, `licenseType` and `userType`, and flags for what needs a look:
//!
//! - `guest-with-write-role`, `free-with-write-role`: a guest, or a Free-licensed user, as Admin,
//!   Member or Contributor;
//! - `disabled-account`, `deleted-account`: an account that cannot sign in still holds a role;
//! - `group-only`: a user who reaches the workspace only through a group (Entra owns that);
//! - `no-admin`: a workspace where no principal holds Admin.
//!
//! `--workspace` reads one admin user list (one admin call). `--all` uses the scanner:
//! `workspaces/modified` for the ids, `getInfo` 100 workspaces at a time with `getArtifactUsers`,
//! `scanStatus` until it succeeds, `scanResult`: a few scanner calls for the whole tenant, written
//! as each batch arrives. The directory is read for each batch's principals alone
//! ([`super::principals`]); `--output snapshot` (with `--all`) reads it whole and writes a
//! `TenantSpec` JSON that `pbi-access tenant import` accepts, with a fresh secret for the
//! automation app.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use pbi_client::{GraphClient, Memberships, ScanOptions, WorkspaceUsers};
use pbi_server::domain::{ArtifactKind, PrincipalKind};
use pbi_server::review::AccessRow;
use pbi_server::tenant::{
    ArtifactSpec, GroupMemberSpec, GroupSpec, LicenseSpec, MemberSpec, RightSpec, SecretSpec, ServicePrincipalSpec, SkuSpec, TenantSpec,
    UserSpec, WorkspaceSpec,
};
use pbi_wire::admin::{ScanArtifact, WorkspaceInfo};
use pbi_wire::graph::{DirectoryObject, User};
use pbi_wire::powerbi::{GroupUser, PrincipalType};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::access::{backings, group_path};
use super::commands::{fail, render, Session};
use super::directory::{graph, ledger_calls, resolve_workspace, role_rank, users_by_id, Licenses, Workspace};
use super::exit;
use super::output::{Format, Rows};
use super::principals::LazyDirectory;
use super::progress;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuditFormat {
    Table,
    Json,
    Csv,
    /// One JSON object a line, written as workspaces arrive.
    Jsonl,
    /// A tenant snapshot for `pbi-access tenant import` (needs --all).
    Snapshot,
}

pub const COLUMNS: &[&str] = &["workspace", "principal", "principalType", "role", "via", "licenseType", "userType", "account", "flags"];

/// What the audit read: workspaces with their direct roles and items, and the directory.
#[derive(Clone)]
struct Facts {
    workspaces: Vec<Workspace>,
    /// Items of each workspace, from the scan (only with `--all`).
    scanned: Vec<WorkspaceInfo>,
    users: BTreeMap<Uuid, User>,
    deleted: BTreeMap<Uuid, User>,
    memberships: Memberships,
    licenses: Licenses,
}

impl Facts {
    fn user(&self, gu: &GroupUser) -> Option<&User> {
        let by_id = gu
            .graph_id
            .as_deref()
            .and_then(|g| Uuid::parse_str(g).ok())
            .or_else(|| gu.identifier.as_deref().and_then(|i| Uuid::parse_str(i).ok()));
        let id = gu.identifier.as_deref().unwrap_or_default();
        by_id.and_then(|id| self.users.get(&id).or_else(|| self.deleted.get(&id))).or_else(|| {
            self.users
                .values()
                .chain(self.deleted.values())
                .find(|u| u.user_principal_name.as_deref().is_some_and(|p| p.eq_ignore_ascii_case(id)))
        })
    }

    fn account(&self, u: &User, gu: Option<&GroupUser>) -> &'static str {
        if self.deleted.contains_key(&u.id) || u.deleted_date_time.is_some() || gu.is_some_and(|g| g.deleted_date_time.is_some()) {
            "deleted"
        } else if u.account_enabled == Some(false) {
            "disabled"
        } else {
            "enabled"
        }
    }

    /// Flags of a user holding `role`. A deleted account has lost its licenses; it is flagged as deleted only.
    fn flags(&self, role: &str, user_type: &str, license: &str, account: &str) -> Vec<&'static str> {
        if account == "deleted" {
            return vec!["deleted-account"];
        }
        let writes = role_rank(role) >= role_rank("Contributor");
        let mut flags = Vec::new();
        if writes && user_type.eq_ignore_ascii_case("Guest") {
            flags.push("guest-with-write-role");
        }
        if writes && license == "Free" {
            flags.push("free-with-write-role");
        }
        if account == "disabled" {
            flags.push("disabled-account");
        }
        flags
    }

    fn rows(&self) -> Rows {
        self.rows_of(&self.workspaces)
    }

    /// The rows of `workspaces`, read against this directory.
    fn rows_of(&self, workspaces: &[Workspace]) -> Rows {
        let mut rows = Rows::new(COLUMNS);
        for ws in workspaces {
            if !ws.users.iter().any(|u| u.group_user_access_right.as_str() == "Admin") {
                let mut row = vec![ws.name.clone()];
                row.resize(COLUMNS.len() - 1, String::new());
                row.push("no-admin".into());
                rows.push(row);
            }
            for (a, flags) in self.holdings(ws) {
                rows.push(vec![
                    a.workspace,
                    a.principal,
                    a.principal_type,
                    a.role,
                    a.via,
                    a.license_type,
                    a.user_type,
                    a.account,
                    flags.join(" "),
                ]);
            }
        }
        rows
    }

    /// Every access `workspaces` grant, as an access review freezes it.
    pub(crate) fn access_rows(&self, workspaces: &[Workspace]) -> Vec<AccessRow> {
        workspaces.iter().flat_map(|ws| self.holdings(ws)).map(|(a, _)| a).collect()
    }

    /// Who holds what on one workspace, with the audit's flags: each principal with a role, and
    /// each user reaching it through a group (by the group's path).
    fn holdings(&self, ws: &Workspace) -> Vec<(AccessRow, Vec<&'static str>)> {
        let mut out = Vec::new();
        let access =
            |principal: String, kind: &str, role: &str, via: String, license: String, user_type: String, account: &str| AccessRow {
                workspace_id: ws.id,
                workspace: ws.name.clone(),
                principal,
                principal_type: kind.into(),
                role: role.into(),
                via,
                license_type: license,
                user_type,
                account: account.into(),
                last_activity: None,
            };
        let direct: BTreeSet<Uuid> = ws.users.iter().filter_map(|u| self.user(u).map(|u| u.id)).collect();
        for gu in &ws.users {
            let role = gu.group_user_access_right.as_str();
            let identifier = gu.identifier.clone().unwrap_or_default();
            match gu.principal_type {
                Some(PrincipalType::User) => {
                    let user = self.user(gu);
                    let user_type = gu.user_type.clone().or_else(|| user.and_then(|u| u.user_type.clone())).unwrap_or_default();
                    let license = gu
                        .license_type
                        .clone()
                        .unwrap_or_else(|| user.map(|u| self.licenses.license_type(u).to_string()).unwrap_or_default());
                    let account = match user {
                        Some(u) => self.account(u, Some(gu)),
                        None if gu.deleted_date_time.is_some() => "deleted",
                        None => "unknown",
                    };
                    let flags = self.flags(role, &user_type, &license, account);
                    out.push((access(identifier, "User", role, "direct".into(), license, user_type, account), flags));
                }
                Some(PrincipalType::Group) => {
                    let group = Uuid::parse_str(&identifier).ok();
                    let name = group.map(|g| self.memberships.group_name(g)).unwrap_or(identifier);
                    out.push((access(name, "Group", role, "direct".into(), String::new(), String::new(), ""), Vec::new()));
                    for (u, chain) in group.map(|g| self.memberships.transitive_users(g)).unwrap_or_default() {
                        // Graph lists members with its default properties: take the full user.
                        let u = self.users.get(&u.id).or_else(|| self.deleted.get(&u.id)).cloned().unwrap_or(u);
                        let up: Vec<Uuid> = chain.iter().rev().copied().collect();
                        let via = group_path(&self.memberships, &up);
                        let account = self.account(&u, None);
                        let license = self.licenses.license_type(&u).to_string();
                        let user_type = u.user_type.clone().unwrap_or_default();
                        let mut flags = self.flags(role, &user_type, &license, account);
                        if !direct.contains(&u.id) {
                            flags.push("group-only");
                        }
                        let upn = u.user_principal_name.clone().unwrap_or_else(|| u.id.to_string());
                        out.push((access(upn, "User", role, via, license, user_type, account), flags));
                    }
                }
                _ => {
                    let name = gu.display_name.clone().unwrap_or(identifier);
                    out.push((access(name, "App", role, "direct".into(), String::new(), String::new(), ""), Vec::new()));
                }
            }
        }
        out
    }
}

async fn directory(graph: &GraphClient) -> Result<(BTreeMap<Uuid, User>, BTreeMap<Uuid, User>, Memberships, Licenses), String> {
    let users = users_by_id(graph).await?;
    let memberships = graph.memberships().await.map_err(|e| e.to_string())?;
    let (deleted, licenses) = deleted_and_licenses(graph).await?;
    Ok((users, deleted, memberships, licenses))
}

/// What every audit reads of the directory whatever it covers: the users deleted in the last
/// 30 days and the tenant's SKUs.
async fn deleted_and_licenses(graph: &GraphClient) -> Result<(BTreeMap<Uuid, User>, Licenses), String> {
    let deleted: Vec<User> = graph.deleted_users().try_collect().await.map_err(|e| e.to_string())?;
    let licenses = Licenses::load(graph).await?;
    Ok((deleted.into_iter().map(|u| (u.id, u)).collect(), licenses))
}

/// Where an audit's rows take the directory from.
enum Source {
    /// The whole directory, read before the first workspace (`--eager-directory`, the snapshot).
    Whole(Facts),
    /// Only what each batch names, read as the batch arrives.
    Lazy { reader: LazyDirectory, deleted: BTreeMap<Uuid, User>, licenses: Licenses },
}

impl Source {
    /// Read the directory `graph` serves, in full when `whole`.
    async fn read(graph: GraphClient, whole: bool) -> Result<Source, String> {
        if whole {
            let (users, deleted, memberships, licenses) = directory(&graph).await?;
            return Ok(Source::Whole(Facts { workspaces: Vec::new(), scanned: Vec::new(), users, deleted, memberships, licenses }));
        }
        let (deleted, licenses) = deleted_and_licenses(&graph).await?;
        Ok(Source::Lazy { reader: LazyDirectory::new(graph), deleted, licenses })
    }

    /// The facts about `spaces`' principals.
    async fn facts(&self, spaces: &[Workspace]) -> Result<std::borrow::Cow<'_, Facts>, pbi_client::ClientError> {
        match self {
            Source::Whole(facts) => Ok(std::borrow::Cow::Borrowed(facts)),
            Source::Lazy { reader, deleted, licenses } => {
                let named = reader.named(spaces).await?;
                Ok(std::borrow::Cow::Owned(Facts {
                    workspaces: Vec::new(),
                    scanned: Vec::new(),
                    users: named.users,
                    deleted: deleted.clone(),
                    memberships: named.memberships,
                    licenses: licenses.clone(),
                }))
            }
        }
    }
}

/// The service's limit of scans in flight per tenant.
const SCANS_IN_FLIGHT: usize = 16;
/// Workspaces per `getInfo`.
const BATCH: usize = 100;
/// The first wait before a scan's status is read.
const FIRST_POLL: Duration = Duration::from_secs(1);
/// How long a scan may take before it counts as failed.
const SCAN_TIMEOUT: Duration = Duration::from_secs(600);

/// `--all`'s options beyond the format.
#[derive(Debug, Clone, Default)]
pub struct AllOptions {
    /// Only the workspaces modified this long ago or later (`24h`, `7d`, `90m`).
    pub since: Option<String>,
    /// Where a stopped audit saves what is left (default `audit-all.journal.json`).
    pub journal: Option<PathBuf>,
    /// Resume the audit saved in this journal.
    pub resume: Option<PathBuf>,
    /// The arguments that name the profile, repeated in the resume command.
    pub profile_args: Vec<String>,
    /// Read the whole directory before the first scan (the former way, kept to compare with).
    pub eager_directory: bool,
}

/// Where a stopped `audit --all` stands: the workspaces not yet written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuditJournal {
    tenant: String,
    since: Option<String>,
    remaining: Vec<Uuid>,
    written: usize,
    failed: Vec<Uuid>,
}

impl AuditJournal {
    fn save(&self, path: &Path) -> Result<(), String> {
        let tmp = path.with_extension("tmp");
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        std::fs::write(&tmp, text + "\n").and_then(|_| std::fs::rename(&tmp, path)).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn load(path: &Path) -> Result<AuditJournal, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("nothing to resume in {}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{} is not an audit journal: {e}", path.display()))
    }
}

/// `24h`, `7d`, `90m`, `3600s` as a duration.
pub fn parse_since(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (n, unit) = text.split_at(split);
    let n: u64 = n.parse().map_err(|_| format!("--since {text}: give a number and a unit, such as 24h or 7d"))?;
    let secs = match unit {
        "s" => n,
        "m" | "min" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("--since {text}: the unit is s, m, h or d")),
    };
    Ok(Duration::from_secs(secs))
}

/// Why a batch of workspaces has no scan result.
#[derive(Debug)]
enum ScanStop {
    /// A request budget is spent: stop, journal, resume later.
    Budget(Duration, String),
    /// The scan failed twice (or timed out): report its workspaces and go on.
    Failed(String),
}

fn scan_error(e: pbi_client::ClientError) -> ScanStop {
    match e {
        pbi_client::ClientError::BudgetExhausted { retry_after, budget, .. } => ScanStop::Budget(retry_after, budget),
        pbi_client::ClientError::Throttled { retry_after, .. } => ScanStop::Budget(retry_after, "throttled".into()),
        e => ScanStop::Failed(e.to_string()),
    }
}

/// What a scan's result is read as: every workspace in full (the snapshot), or the workspaces'
/// users alone (the audit rows), which skips the artifacts' user lists unparsed.
trait ScanRead: Sized {
    async fn read(s: &Session, scan: Uuid) -> Result<Vec<Self>, pbi_client::ClientError>;
}

impl ScanRead for WorkspaceInfo {
    async fn read(s: &Session, scan: Uuid) -> Result<Vec<Self>, pbi_client::ClientError> {
        Ok(s.client.get_scan_result(scan).await?.workspaces)
    }
}

impl ScanRead for WorkspaceUsers {
    async fn read(s: &Session, scan: Uuid) -> Result<Vec<Self>, pbi_client::ClientError> {
        Ok(s.client.get_scan_result_users(scan).await?.workspaces)
    }
}

/// One scan of up to 100 workspaces: `getInfo`, `scanStatus` until it succeeds, `scanResult`.
/// Status is read after [`FIRST_POLL`], then at twice the previous wait, up to `poll`: a quick
/// scan is read soon after it finishes, a slow one at the pace the budget sustains.
async fn scan_once<T: ScanRead>(s: &Session, ids: &[Uuid], poll: Duration) -> Result<Vec<T>, ScanStop> {
    let options = ScanOptions { get_artifact_users: true, ..ScanOptions::default() };
    let scan = s.client.post_workspace_info(ids, options).await.map_err(scan_error)?;
    let started = Instant::now();
    let mut status = scan.status;
    let mut waits = poll_waits(poll);
    loop {
        match status.as_str() {
            "Succeeded" => break,
            "Failed" => return Err(ScanStop::Failed(format!("scan {} failed", scan.id))),
            _ if started.elapsed() > SCAN_TIMEOUT => {
                return Err(ScanStop::Failed(format!("scan {} did not finish in 10 minutes", scan.id)))
            }
            _ => {
                tokio::time::sleep(waits.next().unwrap_or(poll)).await;
                status = s.client.get_scan_status(scan.id).await.map_err(scan_error)?.status;
            }
        }
    }
    T::read(s, scan.id).await.map_err(scan_error)
}

/// A batch's scan, tried again once when it fails; not started once `stopping` is set (a budget
/// is spent: the scans in flight finish, no new one starts).
async fn scan_batch<T: ScanRead>(
    s: &Session,
    ids: Vec<Uuid>,
    poll: Duration,
    stopping: &AtomicBool,
) -> (Vec<Uuid>, Result<Vec<T>, ScanStop>) {
    if stopping.load(Ordering::SeqCst) {
        return (ids, Err(ScanStop::Budget(Duration::ZERO, String::new())));
    }
    let mut result = scan_once(s, &ids, poll).await;
    if let Err(ScanStop::Failed(e)) = &result {
        tracing::info!(error = %e, "scan failed: trying once more");
        result = scan_once(s, &ids, poll).await;
    }
    (ids, result)
}

/// The waits before each read of a scan's status: [`FIRST_POLL`], then twice the previous
/// one, never longer than `cap`.
fn poll_waits(cap: Duration) -> impl Iterator<Item = Duration> {
    std::iter::successors(Some(FIRST_POLL.min(cap)), move |w| Some((*w * 2).min(cap)))
}

/// The longest wait between two reads of a scan's status: the pace at which the scans in flight
/// can poll for an hour within the scan-status budget, never under half a second.
fn poll_interval(s: &Session, in_flight: usize) -> Duration {
    let per_hour = u64::from(s.profile.pacing().limits.scan_status_per_hour.max(1));
    Duration::from_millis((3_600_000 * in_flight as u64 / per_hour).max(500))
}

/// The workspaces to scan: every active one, or those modified since `since` ago.
async fn workspace_ids(s: &Session, since: Option<&str>) -> Result<Vec<Uuid>, ScanStop> {
    let since = match since {
        Some(text) => {
            let ago = parse_since(text).map_err(ScanStop::Failed)?;
            let at = chrono::Utc::now() - chrono::Duration::from_std(ago).map_err(|e| ScanStop::Failed(e.to_string()))?;
            Some(at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        }
        None => None,
    };
    let ids = s.client.get_modified_workspaces(since.as_deref(), true, true).await.map_err(scan_error)?;
    Ok(ids.into_iter().map(|w| w.id).collect())
}

/// Scan `ids`, up to 16 scans in flight, each batch's result passed through `then` (which runs
/// while the other scans go on), batches in the order they finish.
fn scan_stream<'a, T, R, F, Fut>(
    s: &'a Session,
    ids: &[Uuid],
    stopping: &'a AtomicBool,
    then: F,
) -> impl futures::Stream<Item = (Vec<Uuid>, Result<R, ScanStop>)> + 'a
where
    T: ScanRead + 'a,
    F: Fn(Vec<T>) -> Fut + Copy + 'a,
    Fut: std::future::Future<Output = Result<R, ScanStop>> + 'a,
{
    let batches: Vec<Vec<Uuid>> = ids.chunks(BATCH).map(<[Uuid]>::to_vec).collect();
    let in_flight = batches.len().clamp(1, SCANS_IN_FLIGHT);
    let poll = poll_interval(s, in_flight);
    futures::stream::iter(batches)
        .map(move |b| async move {
            let (ids, result) = scan_batch::<T>(s, b, poll, stopping).await;
            let result = match result {
                Ok(found) => then(found).await,
                Err(e) => Err(e),
            };
            (ids, result)
        })
        .buffer_unordered(in_flight)
}

/// Scan every workspace into memory (for the snapshot, which is the whole tenant).
async fn scan_all(s: &Session, show: bool) -> Result<Vec<WorkspaceInfo>, String> {
    let ids = workspace_ids(s, None).await.map_err(|e| format!("{e:?}"))?;
    let bar = progress::bar(ids.len().div_ceil(BATCH) as u64, show);
    let mut out = Vec::new();
    let stopping = AtomicBool::new(false);
    let mut scans = std::pin::pin!(scan_stream(s, &ids, &stopping, |infos: Vec<WorkspaceInfo>| async move { Ok(infos) }));
    while let Some((ids, result)) = scans.next().await {
        match result {
            Ok(infos) => out.extend(infos),
            Err(ScanStop::Budget(wait, budget)) => return Err(format!("the {budget} budget is spent: next call in {} s", wait.as_secs())),
            Err(ScanStop::Failed(e)) => return Err(format!("the scan of {} workspace(s) failed: {e}", ids.len())),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(out)
}

/// Bytes `--all` buffers before writing to stdout (flushed after each batch anyway).
const SINK_BUFFER: usize = 256 * 1024;

/// Where `--all` writes rows as the workspaces arrive.
enum Sink {
    Csv(Box<csv::Writer<std::io::Stdout>>),
    /// Buffered (stdout alone writes each line), flushed after each batch.
    JsonLines(std::io::BufWriter<std::io::Stdout>),
    /// A JSON array written element by element; `true` once the first is out.
    Json(std::io::BufWriter<std::io::Stdout>, bool),
    /// Tables need every width first: rendered at the end.
    Table(Rows),
}

impl Sink {
    fn new(format: AuditFormat) -> Result<Sink, String> {
        Ok(match format {
            AuditFormat::Csv => {
                let mut w = csv::Writer::from_writer(std::io::stdout());
                w.write_record(COLUMNS).map_err(|e| e.to_string())?;
                w.flush().map_err(|e| e.to_string())?;
                Sink::Csv(Box::new(w))
            }
            AuditFormat::Jsonl => Sink::JsonLines(std::io::BufWriter::with_capacity(SINK_BUFFER, std::io::stdout())),
            AuditFormat::Json => {
                let mut out = std::io::BufWriter::with_capacity(SINK_BUFFER, std::io::stdout());
                out.write_all(b"[").map_err(|e| e.to_string())?;
                Sink::Json(out, false)
            }
            AuditFormat::Table | AuditFormat::Snapshot => Sink::Table(Rows::new(COLUMNS)),
        })
    }

    fn write(&mut self, rows: Rows) -> Result<(), String> {
        let object = |r: &Vec<String>| -> serde_json::Map<String, serde_json::Value> {
            COLUMNS.iter().zip(r).map(|(c, v)| (c.to_string(), serde_json::Value::String(v.clone()))).collect()
        };
        let result = match self {
            Sink::Csv(w) => rows.rows.iter().try_for_each(|r| w.write_record(r).map_err(std::io::Error::from)).and_then(|_| w.flush()),
            Sink::JsonLines(out) => rows
                .rows
                .iter()
                .try_for_each(|r| serde_json::to_writer(&mut *out, &object(r)).map_err(std::io::Error::from).and_then(|_| writeln!(out)))
                .and_then(|_| out.flush()),
            Sink::Json(out, started) => rows
                .rows
                .iter()
                .try_for_each(|r| {
                    write!(out, "{}\n  ", if *started { "," } else { "" })?;
                    *started = true;
                    serde_json::to_writer(&mut *out, &object(r)).map_err(std::io::Error::from)
                })
                .and_then(|_| out.flush()),
            Sink::Table(all) => {
                all.rows.extend(rows.rows);
                Ok(())
            }
        };
        result.map_err(|e| format!("cannot write the audit: {e}"))
    }

    fn finish(self) -> Result<(), String> {
        match self {
            Sink::Csv(mut w) => w.flush().map_err(|e| e.to_string()),
            Sink::JsonLines(mut out) => out.flush().map_err(|e| e.to_string()),
            Sink::Json(mut out, started) => {
                writeln!(out, "{}]", if started { "\n" } else { "" }).and_then(|_| out.flush()).map_err(|e| e.to_string())
            }
            Sink::Table(rows) => {
                let mut out = std::io::stdout().lock();
                rows.render(Format::Table, &mut out).map_err(|e| e.to_string())
            }
        }
    }
}

/// The row that reports a workspace whose scan failed.
fn failed_row(id: Uuid) -> Vec<String> {
    let mut row = vec![id.to_string()];
    row.resize(COLUMNS.len() - 1, String::new());
    row.push("scan-failed".into());
    row
}

/// `audit --all` in a stream: rows written as each batch's scan arrives, memory bounded by the
/// batches in flight; a spent budget journals what is left and exits 3.
async fn audit_all_streamed(s: &Session, source: &Source, format: AuditFormat, o: &AllOptions) -> ExitCode {
    let tenant = s.profile.tenant.clone().unwrap_or_default();
    let journal_path = o.resume.clone().or(o.journal.clone()).unwrap_or_else(|| PathBuf::from("audit-all.journal.json"));
    let (ids, mut journal) = match &o.resume {
        Some(path) => match AuditJournal::load(path) {
            Ok(j) if j.tenant.eq_ignore_ascii_case(&tenant) => {
                eprintln!("pbi-access: resuming the audit saved in {}: {} workspace(s) left", path.display(), j.remaining.len());
                (j.remaining.clone(), j)
            }
            Ok(j) => return fail(exit::USAGE, format!("{} is the audit of tenant {}, not {tenant}", path.display(), j.tenant)),
            Err(e) => return fail(exit::USAGE, e),
        },
        None => match workspace_ids(s, o.since.as_deref()).await {
            Ok(ids) => (
                ids,
                AuditJournal { tenant: tenant.clone(), since: o.since.clone(), remaining: Vec::new(), written: 0, failed: Vec::new() },
            ),
            Err(ScanStop::Budget(wait, budget)) => return budget_stop(o, format, &journal_path, None, wait, &budget),
            Err(ScanStop::Failed(e)) => return fail(exit::FAILURE, e),
        },
    };
    let mut sink = match Sink::new(format) {
        Ok(sink) => sink,
        Err(e) => return fail(exit::FAILURE, e),
    };
    let mut left: BTreeSet<Uuid> = ids.iter().copied().collect();
    let mut stop: Option<(Duration, String)> = None;
    let stopping = AtomicBool::new(false);
    {
        // Each batch's rows are made as its scan arrives, its principals read from the directory
        // while the other scans go on.
        let rows_of = |infos: Vec<WorkspaceUsers>| async move {
            let mut spaces: Vec<Workspace> = infos.into_iter().map(|w| Workspace::new(w.id, w.name, w.users)).collect();
            spaces.sort_by(|a, b| a.name.cmp(&b.name));
            let facts = source.facts(&spaces).await.map_err(scan_error)?;
            Ok((spaces.len(), facts.rows_of(&spaces)))
        };
        let mut scans = std::pin::pin!(scan_stream(s, &ids, &stopping, rows_of));
        while let Some((batch, result)) = scans.next().await {
            let rows = match result {
                Ok((written, rows)) => {
                    journal.written += written;
                    rows
                }
                Err(ScanStop::Failed(e)) => {
                    let mut rows = Rows::new(COLUMNS);
                    for id in &batch {
                        eprintln!("pbi-access: workspace {id} not audited: {e}");
                        rows.push(failed_row(*id));
                    }
                    journal.failed.extend(&batch);
                    rows
                }
                Err(ScanStop::Budget(wait, budget)) => {
                    // The scans in flight finish and are written; no new one starts.
                    stopping.store(true, Ordering::SeqCst);
                    if !budget.is_empty() && stop.as_ref().is_none_or(|(w, _)| wait > *w) {
                        stop = Some((wait, budget));
                    }
                    continue;
                }
            };
            for id in &batch {
                left.remove(id);
            }
            if let Err(e) = sink.write(rows) {
                return fail(exit::FAILURE, e);
            }
        }
    }
    if let Err(e) = sink.finish() {
        return fail(exit::FAILURE, e);
    }
    if let Some((wait, budget)) = stop {
        journal.remaining = ids.into_iter().filter(|id| left.contains(id)).collect();
        return budget_stop(o, format, &journal_path, Some(&journal), wait, &budget);
    }
    if o.resume.is_some() {
        let _ = std::fs::remove_file(&journal_path);
    }
    let failed = journal.failed.len();
    if failed > 0 {
        eprintln!("pbi-access: {failed} workspace(s) not audited: their scans failed twice (flag scan-failed)");
    }
    eprint!("{} workspace(s) audited; ", journal.written);
    if failed > 0 {
        ExitCode::from(exit::FAILURE)
    } else {
        ExitCode::SUCCESS
    }
}

/// Save the journal, say when and how to resume, exit 3.
fn budget_stop(o: &AllOptions, format: AuditFormat, path: &Path, journal: Option<&AuditJournal>, wait: Duration, budget: &str) -> ExitCode {
    if let Some(j) = journal {
        if let Err(e) = j.save(path) {
            return fail(exit::FAILURE, format!("the {budget} budget is spent, and the journal could not be saved: {e}"));
        }
    }
    let format = match format {
        AuditFormat::Table => "table",
        AuditFormat::Json => "json",
        AuditFormat::Jsonl => "jsonl",
        AuditFormat::Csv => "csv",
        AuditFormat::Snapshot => "snapshot",
    };
    let mut command = format!("pbi-access audit --all --output {format}");
    for a in &o.profile_args {
        command.push(' ');
        command.push_str(a);
    }
    match journal {
        Some(j) => {
            command.push_str(&format!(" --resume {}", path.display()));
            eprintln!(
                "pbi-access: stopped: the {budget} budget is spent (next call in {} s). {} workspace(s) written, {} left; the journal {} is saved. Resume then with: {command}",
                wait.as_secs(),
                j.written,
                j.remaining.len(),
                path.display()
            );
        }
        None => {
            if let Some(since) = &o.since {
                command.push_str(&format!(" --since {since}"));
            }
            eprintln!(
                "pbi-access: stopped: the {budget} budget is spent (next call in {} s); nothing was scanned. Run again then: {command}",
                wait.as_secs()
            );
        }
    }
    ExitCode::from(exit::BUDGET)
}

pub async fn audit(s: &Session, workspace: Option<&str>, all: bool, format: AuditFormat, out: &Path, o: &AllOptions) -> ExitCode {
    if format == AuditFormat::Snapshot && !all {
        return fail(exit::USAGE, "--output snapshot needs --all: a snapshot is the whole tenant");
    }
    if (o.since.is_some() || o.resume.is_some()) && (!all || format == AuditFormat::Snapshot) {
        return fail(exit::USAGE, "--since and --resume go with --all (and not with --output snapshot)");
    }
    if let Some(Err(e)) = o.since.as_deref().map(parse_since) {
        return fail(exit::USAGE, e);
    }
    let before = ledger_calls(&s.profile).await;
    let graph = match graph(&s.profile) {
        Ok(g) => g,
        Err(e) => return fail(exit::USAGE, e),
    };
    // The snapshot is the whole tenant; the rows need only what their workspaces name.
    let source = match Source::read(graph, format == AuditFormat::Snapshot || o.eager_directory).await {
        Ok(d) => d,
        Err(e) => return fail(exit::FAILURE, e),
    };
    if all && format != AuditFormat::Snapshot {
        let code = audit_all_streamed(s, &source, format, o).await;
        eprintln!("{} admin call(s) spent", ledger_calls(&s.profile).await.saturating_sub(before));
        return code;
    }
    let mut facts = match (workspace, all) {
        (Some(w), false) => {
            let (id, name) = match resolve_workspace(s, w).await {
                Ok(t) => (t.id, t.name),
                Err(e) => return fail(exit::FAILURE, e),
            };
            let spaces = match s.client.get_group_users_as_admin(id).await {
                Ok(users) => vec![Workspace::new(id, name, Some(users))],
                Err(e) => return fail(exit::FAILURE, e),
            };
            match source.facts(&spaces).await {
                Ok(facts) => Facts { workspaces: spaces, ..facts.into_owned() },
                Err(e) => return fail(exit::FAILURE, e),
            }
        }
        (None, true) => {
            let Source::Whole(mut facts) = source else { return fail(exit::FAILURE, "the snapshot needs the whole directory") };
            match scan_all(s, progress::visible(Format::Table)).await {
                Ok(scanned) => {
                    facts.workspaces = scanned.iter().map(|w| Workspace::new(w.id, w.name.clone(), w.users.clone())).collect();
                    facts.scanned = scanned;
                    facts
                }
                Err(e) => return fail(exit::FAILURE, e),
            }
        }
        _ => return fail(exit::USAGE, "give either --workspace W or --all"),
    };
    facts.workspaces.sort_by(|a, b| a.name.cmp(&b.name));
    let code = match format {
        AuditFormat::Table => render(&facts.rows(), Format::Table),
        AuditFormat::Json => render(&facts.rows(), Format::Json),
        AuditFormat::Jsonl => match Sink::new(AuditFormat::Jsonl).and_then(|mut k| k.write(facts.rows()).and_then(|_| k.finish())) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(exit::FAILURE, e),
        },
        AuditFormat::Csv => render(&facts.rows(), Format::Csv),
        AuditFormat::Snapshot => write_snapshot(s, &facts, out).await,
    };
    eprintln!(
        "{} workspace(s) audited; {} admin call(s) spent",
        facts.workspaces.len(),
        ledger_calls(&s.profile).await.saturating_sub(before)
    );
    code
}

/// Which workspaces an access review covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewScope {
    /// Every workspace (the scanner, as `audit --all`).
    All,
    /// The workspaces whose name contains this text, any case (the scanner, then filtered).
    NameContains(String),
    /// These workspaces, by name or id (one admin user list each).
    Workspaces(Vec<String>),
}

/// Read who holds what over `scope` as `audit` does: the directory once, then the scanner or the
/// admin user lists. Returns the rows and the workspaces read.
pub(crate) async fn read_access(s: &Session, scope: &ReviewScope) -> Result<(Vec<AccessRow>, usize), String> {
    let graph = graph(&s.profile)?;
    let (users, deleted, memberships, licenses) = directory(&graph).await?;
    let mut facts = Facts { workspaces: Vec::new(), scanned: Vec::new(), users, deleted, memberships, licenses };
    match scope {
        ReviewScope::Workspaces(list) => {
            for w in list {
                let t = resolve_workspace(s, w).await?;
                let users = s.client.get_group_users_as_admin(t.id).await.map_err(|e| e.to_string())?;
                facts.workspaces.push(Workspace::new(t.id, t.name, Some(users)));
            }
        }
        ReviewScope::All | ReviewScope::NameContains(_) => {
            let scanned = scan_all(s, progress::visible(Format::Table)).await?;
            let wanted = |name: &str| match scope {
                ReviewScope::NameContains(text) => name.to_lowercase().contains(&text.to_lowercase()),
                _ => true,
            };
            facts.workspaces =
                scanned.iter().filter(|w| wanted(&w.name)).map(|w| Workspace::new(w.id, w.name.clone(), w.users.clone())).collect();
        }
    }
    let rows = facts.access_rows(&facts.workspaces);
    Ok((rows, facts.workspaces.len()))
}

/// A fresh client secret in the service's own shape.
pub fn fresh_secret() -> String {
    format!("twin~{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

fn principal_type(p: Option<PrincipalType>) -> PrincipalKind {
    match p {
        Some(PrincipalType::Group) => PrincipalKind::Group,
        Some(PrincipalType::App) => PrincipalKind::App,
        _ => PrincipalKind::User,
    }
}

/// The spec kind of a scanned item.
fn kind_of(list: &str, a: &ScanArtifact) -> ArtifactKind {
    match list {
        "reports" if a.report_type.as_deref() == Some("PaginatedReport") => ArtifactKind::PaginatedReport,
        "reports" => ArtifactKind::Report,
        "datasets" => ArtifactKind::Dataset,
        "dashboards" => ArtifactKind::Dashboard,
        _ => ArtifactKind::Dataflow,
    }
}

fn snapshot(s: &Session, facts: &Facts, secret: &str, backed: &BTreeMap<Uuid, Vec<(Uuid, String)>>) -> Result<TenantSpec, String> {
    let tenant = s.profile.tenant.as_deref().and_then(|t| Uuid::parse_str(t).ok());
    let app_id = s.profile.client_id.as_deref().and_then(|c| Uuid::parse_str(c).ok());
    // The domain most member users sign in with.
    let mut domains: BTreeMap<String, usize> = BTreeMap::new();
    for u in facts.users.values().filter(|u| !u.is_guest()) {
        if let Some((_, d)) = u.user_principal_name.as_deref().and_then(|p| p.rsplit_once('@')) {
            *domains.entry(d.to_lowercase()).or_default() += 1;
        }
    }
    let domain = domains.into_iter().max_by_key(|(_, n)| *n).map(|(d, _)| d).ok_or("the directory has no member users")?;
    let users: Vec<UserSpec> = facts
        .users
        .values()
        .map(|u| UserSpec {
            id: Some(u.id),
            upn: u.user_principal_name.clone().unwrap_or_default(),
            mail: u.mail.clone(),
            display_name: u.display_name.clone().unwrap_or_default(),
            guest: u.is_guest(),
            account_enabled: u.account_enabled.unwrap_or(true),
            password: None,
            password_hash: None,
            fabric_admin: false,
        })
        .collect();
    // Service principals: the caller (with a fresh secret), and every app seen in a role or a group.
    let mut apps: BTreeMap<Uuid, String> = BTreeMap::new();
    for ws in &facts.workspaces {
        for u in ws.users.iter().filter(|u| u.principal_type == Some(PrincipalType::App)) {
            if let Some(id) = u.identifier.as_deref().and_then(|i| Uuid::parse_str(i).ok()) {
                apps.insert(id, u.display_name.clone().unwrap_or_else(|| id.to_string()));
            }
        }
    }
    for members in facts.memberships.members.values() {
        for m in members {
            if let DirectoryObject::ServicePrincipal(sp) = m {
                apps.insert(sp.id, sp.display_name.clone().unwrap_or_else(|| sp.id.to_string()));
            }
        }
    }
    apps.entry(s.caller).or_insert_with(|| "pbi-access automation".into());
    let service_principals = apps
        .into_iter()
        .map(|(id, name)| ServicePrincipalSpec {
            id: Some(id),
            app_id: if id == s.caller { app_id } else { None },
            display_name: name,
            secrets: if id == s.caller { vec![SecretSpec { value: secret.to_string(), hash: None, expires_at: None }] } else { Vec::new() },
            certificates: vec![],
            ..Default::default()
        })
        .collect();
    let groups = facts
        .memberships
        .groups
        .values()
        .map(|g| GroupSpec {
            id: Some(g.id),
            display_name: g.display_name.clone().unwrap_or_else(|| g.id.to_string()),
            microsoft365: g.is_microsoft365(),
            members: facts
                .memberships
                .members
                .get(&g.id)
                .into_iter()
                .flatten()
                .map(|m| GroupMemberSpec {
                    principal: m.id().to_string(),
                    principal_type: match m {
                        DirectoryObject::User(_) => PrincipalKind::User,
                        DirectoryObject::Group(_) => PrincipalKind::Group,
                        DirectoryObject::ServicePrincipal(_) => PrincipalKind::App,
                    },
                })
                .collect(),
            ..Default::default()
        })
        .collect();
    // Licenses: each group's own, and each user's that no group of theirs gives.
    let part = |sku: Uuid| facts.licenses.part_number(sku).map(str::to_string);
    let mut licenses = Vec::new();
    let mut from_groups: BTreeMap<Uuid, BTreeSet<Uuid>> = BTreeMap::new();
    for g in facts.memberships.groups.values() {
        for l in g.assigned_licenses.iter().flatten() {
            if let Some(sku) = part(l.sku_id) {
                licenses.push(LicenseSpec { principal: g.id.to_string(), principal_type: PrincipalKind::Group, sku_part_number: sku });
            }
            for (u, _) in facts.memberships.transitive_users(g.id) {
                from_groups.entry(u.id).or_default().insert(l.sku_id);
            }
        }
    }
    for u in facts.users.values() {
        for l in u.assigned_licenses.iter().flatten() {
            if !from_groups.get(&u.id).is_some_and(|g| g.contains(&l.sku_id)) {
                if let Some(sku) = part(l.sku_id) {
                    licenses.push(LicenseSpec { principal: u.id.to_string(), principal_type: PrincipalKind::User, sku_part_number: sku });
                }
            }
        }
    }
    let known_user = |gu: &GroupUser| facts.user(gu).filter(|u| facts.users.contains_key(&u.id)).map(|u| u.id.to_string());
    let mut workspaces = Vec::new();
    for w in &facts.scanned {
        let holders: Vec<&GroupUser> = w.users.iter().flatten().filter(|u| u.profile.is_none()).collect();
        let members = holders
            .iter()
            .filter_map(|u| {
                let principal = match u.principal_type {
                    Some(PrincipalType::User) => known_user(u)?,
                    _ => u.identifier.clone()?,
                };
                Some(MemberSpec {
                    principal,
                    principal_type: principal_type(u.principal_type),
                    // `None` is no role: a twin cannot hold it.
                    role: u.group_user_access_right.as_str().parse().ok()?,
                })
            })
            .collect();
        let with_role: BTreeSet<String> = holders.iter().filter_map(|u| u.identifier.as_deref().map(str::to_lowercase)).collect();
        let mut artifacts = Vec::new();
        for (list, items) in
            [("datasets", &w.datasets), ("reports", &w.reports), ("dashboards", &w.dashboards), ("dataflows", &w.dataflows)]
        {
            for a in items {
                let Some(id) = a.id.or(a.object_id) else { continue };
                let kind = kind_of(list, a);
                // Rights a workspace role explains come back with the role; only the others are grants.
                let users = a.users.as_deref().unwrap_or(&[]);
                let permissions = users
                    .iter()
                    .filter_map(|u| {
                        let u = u.as_object()?;
                        let identifier = text(u, "identifier")?;
                        if with_role.contains(&identifier.to_lowercase()) {
                            return None;
                        }
                        let right = u.iter().find(|(k, _)| k.ends_with("UserAccessRight"))?.1.as_str()?;
                        let kind: PrincipalKind = text(u, "principalType").unwrap_or("User").parse().ok()?;
                        let principal = if kind == PrincipalKind::User {
                            let gu = GroupUser::principal(identifier, PrincipalType::User, pbi_wire::powerbi::GroupUserAccessRight::None);
                            known_user(&GroupUser { graph_id: text(u, "graphId").map(str::to_string), ..gu })?
                        } else {
                            identifier.to_string()
                        };
                        Some(RightSpec { principal, principal_type: kind, access_right: right.into() })
                    })
                    .collect::<Vec<_>>();
                let permissions =
                    if matches!(kind, ArtifactKind::Dataflow | ArtifactKind::PaginatedReport) { Vec::new() } else { permissions };
                let name = a.name.clone().or_else(|| a.display_name.clone()).unwrap_or_else(|| id.to_string());
                artifacts.push(ArtifactSpec {
                    id: Some(id),
                    kind,
                    name,
                    description: a.description.clone(),
                    dataset: a.dataset_id.clone().filter(|_| kind == ArtifactKind::Report),
                    configured_by: a.configured_by.clone(),
                    permissions,
                    ..Default::default()
                });
            }
        }
        workspaces.push(WorkspaceSpec {
            id: Some(w.id),
            name: w.name.clone(),
            backed_by: backed.get(&w.id).and_then(|b| b.first()).map(|(g, _)| g.to_string()),
            members,
            capacity: None,
            artifacts,
            ..Default::default()
        });
    }
    Ok(TenantSpec {
        id: tenant,
        name: format!("Twin of {domain}"),
        domain,
        users,
        groups,
        service_principals,
        workspaces,
        subscribed_skus: facts
            .licenses
            .skus
            .iter()
            .map(|s| SkuSpec { sku_part_number: s.sku_part_number.clone(), seats: s.prepaid_units.enabled })
            .collect(),
        licenses,
        ..Default::default()
    })
}

async fn write_snapshot(s: &Session, facts: &Facts, out: &Path) -> ExitCode {
    let secret = fresh_secret();
    let backed = backings(s, &facts.workspaces, &facts.memberships).await;
    let spec = match snapshot(s, facts, &secret, &backed) {
        Ok(spec) => spec,
        Err(e) => return fail(exit::FAILURE, e),
    };
    let text = match serde_json::to_string_pretty(&spec) {
        Ok(t) => t,
        Err(e) => return fail(exit::FAILURE, format!("cannot serialise the snapshot: {e}")),
    };
    if let Err(e) = std::fs::write(out, text + "\n") {
        return fail(exit::FAILURE, format!("cannot write {}: {e}", out.display()));
    }
    println!("snapshot of {} workspace(s) written to {}", spec.workspaces.len(), out.display());
    println!(
        "the twin's automation app {} signs in with the fresh secret {secret} (only in the twin; the tenant's own secrets are never exported)",
        s.profile.client_id.as_deref().unwrap_or_default()
    );
    ExitCode::SUCCESS
}

/// A text field of a scanned principal, which the scan returns as free JSON.
fn text<'a>(item: &'a serde_json::Map<String, serde_json::Value>, key: &str) -> Option<&'a str> {
    item.get(key).and_then(|v| v.as_str())
}

#[cfg(test)]
mod tests {
    use pbi_wire::powerbi::GroupUserAccessRight as Right;

    use super::*;

    fn user(id: Uuid, upn: &str, guest: bool) -> User {
        User {
            id,
            user_principal_name: Some(upn.into()),
            display_name: None,
            mail: None,
            user_type: Some(if guest { "Guest" } else { "Member" }.into()),
            account_enabled: Some(true),
            usage_location: None,
            deleted_date_time: None,
            assigned_licenses: None,
        }
    }

    #[test]
    fn status_polls_back_off_from_one_second_to_the_budgets_pace() {
        let waits: Vec<u64> = poll_waits(Duration::from_millis(5760)).take(6).map(|d| d.as_millis() as u64).collect();
        assert_eq!(waits, [1000, 2000, 4000, 5760, 5760, 5760]);
        let short: Vec<u64> = poll_waits(Duration::from_millis(500)).take(2).map(|d| d.as_millis() as u64).collect();
        assert_eq!(short, [500, 500], "a cap under a second is never exceeded");
    }

    #[test]
    fn flags_a_workspace_without_admin_and_deleted_or_guest_holders() {
        let (guest, gone) = (Uuid::new_v4(), Uuid::new_v4());
        let mut deleted = user(gone, "gone@x.com", false);
        deleted.deleted_date_time = Some("2026-01-01T00:00:00Z".into());
        let facts = Facts {
            workspaces: vec![
                Workspace {
                    id: Uuid::new_v4(),
                    name: "Orphan".into(),
                    users: vec![GroupUser::principal("gone@x.com", PrincipalType::User, Right::Viewer)],
                },
                Workspace {
                    id: Uuid::new_v4(),
                    name: "Shared".into(),
                    users: vec![GroupUser::principal("g@y.com", PrincipalType::User, Right::Admin)],
                },
            ],
            scanned: Vec::new(),
            users: [(guest, user(guest, "g@y.com", true))].into(),
            deleted: [(gone, deleted)].into(),
            memberships: Memberships::default(),
            licenses: Licenses::default(),
        };
        let rows = facts.rows();
        let flags: Vec<(&str, &str, &str)> = rows.rows.iter().map(|r| (r[0].as_str(), r[1].as_str(), r[8].as_str())).collect();
        assert_eq!(
            flags,
            [
                ("Orphan", "", "no-admin"),
                ("Orphan", "gone@x.com", "deleted-account"),
                ("Shared", "g@y.com", "guest-with-write-role free-with-write-role")
            ]
        );
    }
}
