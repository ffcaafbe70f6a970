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
//! `scanStatus` until it succeeds, `scanResult`: a few scanner calls for the whole tenant, printed
//! at the end. `--output snapshot` (with `--all`) writes a `TenantSpec` JSON that
//! `pbi-access tenant import` accepts, with a fresh secret for the automation app.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use pbi_client::{GraphClient, Memberships, ScanOptions};
use pbi_server::tenant::{
    ArtifactSpec, GroupMemberSpec, GroupSpec, LicenseSpec, MemberSpec, RightSpec, SecretSpec, ServicePrincipalSpec, SkuSpec, TenantSpec,
    UserSpec, WorkspaceSpec,
};
use pbi_wire::admin::{ScanArtifact, WorkspaceInfo};
use pbi_wire::graph::{DirectoryObject, User};
use pbi_wire::powerbi::{GroupUser, PrincipalType};
use uuid::Uuid;

use super::access::{backings, group_path};
use super::commands::{fail, render, Session};
use super::directory::{graph, ledger_calls, resolve_workspace, role_rank, users_by_id, Licenses, Workspace};
use super::exit;
use super::output::{Format, Rows};
use super::progress;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuditFormat {
    Table,
    Json,
    Csv,
    /// A tenant snapshot for `pbi-access tenant import` (needs --all).
    Snapshot,
}

pub const COLUMNS: &[&str] = &["workspace", "principal", "principalType", "role", "via", "licenseType", "userType", "account", "flags"];

/// What the audit read: workspaces with their direct roles and items, and the directory.
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
        let mut rows = Rows::new(COLUMNS);
        for ws in &self.workspaces {
            if !ws.users.iter().any(|u| u.group_user_access_right.as_str() == "Admin") {
                rows.push(vec![
                    ws.name.clone(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    "no-admin".into(),
                ]);
            }
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
                        rows.push(vec![
                            ws.name.clone(),
                            identifier,
                            "User".into(),
                            role.into(),
                            "direct".into(),
                            license,
                            user_type,
                            account.into(),
                            flags.join(" "),
                        ]);
                    }
                    Some(PrincipalType::Group) => {
                        let group = Uuid::parse_str(&identifier).ok();
                        let name = group.map(|g| self.memberships.group_name(g)).unwrap_or(identifier);
                        rows.push(holder_row(&ws.name, name, "Group", role));
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
                            rows.push(vec![
                                ws.name.clone(),
                                upn,
                                "User".into(),
                                role.into(),
                                via,
                                license,
                                user_type,
                                account.into(),
                                flags.join(" "),
                            ]);
                        }
                    }
                    _ => {
                        let name = gu.display_name.clone().unwrap_or(identifier);
                        rows.push(holder_row(&ws.name, name, "App", role));
                    }
                }
            }
        }
        rows
    }
}

/// A group or app holding a role: no license, user type or account to show.
fn holder_row(workspace: &str, name: String, kind: &str, role: &str) -> Vec<String> {
    let mut row = vec![workspace.to_string(), name, kind.into(), role.into(), "direct".into()];
    row.resize(COLUMNS.len(), String::new());
    row
}

async fn directory(graph: &GraphClient) -> Result<(BTreeMap<Uuid, User>, BTreeMap<Uuid, User>, Memberships, Licenses), String> {
    let users = users_by_id(graph).await?;
    let deleted: Vec<User> = graph.deleted_users().try_collect().await.map_err(|e| e.to_string())?;
    let memberships = graph.memberships().await.map_err(|e| e.to_string())?;
    let licenses = Licenses::load(graph).await?;
    Ok((users, deleted.into_iter().map(|u| (u.id, u)).collect(), memberships, licenses))
}

/// Scan every workspace: ids from `workspaces/modified`, then `getInfo` 100 at a time.
/// `show`: draw a progress bar over the batches (on a terminal, not for JSON).
async fn scan_all(s: &Session, show: bool) -> Result<Vec<WorkspaceInfo>, String> {
    let ids: Vec<Uuid> =
        s.client.get_modified_workspaces(None, true, true).await.map_err(|e| e.to_string())?.into_iter().map(|w| w.id).collect();
    let mut out = Vec::new();
    let bar = progress::bar(ids.len().div_ceil(100) as u64, show);
    for chunk in ids.chunks(100) {
        bar.set_message(format!("scanning {} of {} workspace(s)", chunk.len(), ids.len()));
        let options = ScanOptions { get_artifact_users: true, ..ScanOptions::default() };
        let scan = s.client.post_workspace_info(chunk, options).await.map_err(|e| e.to_string())?;
        let started = Instant::now();
        loop {
            let status = s.client.get_scan_status(scan.id).await.map_err(|e| e.to_string())?;
            match status.status.as_str() {
                "Succeeded" => break,
                "Failed" => return Err(format!("scan {} failed: {:?}", scan.id, status.error)),
                _ if started.elapsed() > Duration::from_secs(600) => return Err(format!("scan {} did not finish in 10 minutes", scan.id)),
                _ => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
        out.extend(s.client.get_scan_result(scan.id).await.map_err(|e| e.to_string())?.workspaces);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(out)
}

pub async fn audit(s: &Session, workspace: Option<&str>, all: bool, format: AuditFormat, out: &Path) -> ExitCode {
    if format == AuditFormat::Snapshot && !all {
        return fail(exit::USAGE, "--output snapshot needs --all: a snapshot is the whole tenant");
    }
    let before = ledger_calls(&s.profile).await;
    let graph = match graph(&s.profile) {
        Ok(g) => g,
        Err(e) => return fail(exit::USAGE, e),
    };
    let (workspaces, scanned) = match (workspace, all) {
        (Some(w), false) => {
            let (id, name) = match resolve_workspace(s, w).await {
                Ok(t) => (t.id, t.name),
                Err(e) => return fail(exit::FAILURE, e),
            };
            match s.client.get_group_users_as_admin(id).await {
                Ok(users) => (vec![Workspace::new(id, name, Some(users))], Vec::new()),
                Err(e) => return fail(exit::FAILURE, e),
            }
        }
        (None, true) => match scan_all(s, format != AuditFormat::Json && progress::visible(Format::Table)).await {
            Ok(scanned) => {
                let spaces = scanned.iter().map(|w| Workspace::new(w.id, w.name.clone(), w.users.clone())).collect();
                (spaces, scanned)
            }
            Err(e) => return fail(exit::FAILURE, e),
        },
        _ => return fail(exit::USAGE, "give either --workspace W or --all"),
    };
    let (users, deleted, memberships, licenses) = match directory(&graph).await {
        Ok(d) => d,
        Err(e) => return fail(exit::FAILURE, e),
    };
    let mut facts = Facts { workspaces, scanned, users, deleted, memberships, licenses };
    facts.workspaces.sort_by(|a, b| a.name.cmp(&b.name));
    let code = match format {
        AuditFormat::Table => render(&facts.rows(), Format::Table),
        AuditFormat::Json => render(&facts.rows(), Format::Json),
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

/// A fresh client secret in the service's own shape.
pub fn fresh_secret() -> String {
    format!("twin~{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

fn principal_type(p: Option<PrincipalType>) -> &'static str {
    match p {
        Some(PrincipalType::Group) => "Group",
        Some(PrincipalType::App) => "App",
        _ => "User",
    }
}

/// The spec kind of a scanned item.
fn kind_of(list: &str, a: &ScanArtifact) -> &'static str {
    match list {
        "reports" if a.report_type.as_deref() == Some("PaginatedReport") => "PaginatedReport",
        "reports" => "Report",
        "datasets" => "Dataset",
        "dashboards" => "Dashboard",
        _ => "Dataflow",
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
                        DirectoryObject::User(_) => "User",
                        DirectoryObject::Group(_) => "Group",
                        DirectoryObject::ServicePrincipal(_) => "App",
                    }
                    .into(),
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
                licenses.push(LicenseSpec { principal: g.id.to_string(), principal_type: "Group".into(), sku_part_number: sku });
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
                    licenses.push(LicenseSpec { principal: u.id.to_string(), principal_type: "User".into(), sku_part_number: sku });
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
                    principal_type: principal_type(u.principal_type).into(),
                    role: u.group_user_access_right.as_str().into(),
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
                        let kind = text(u, "principalType").unwrap_or("User");
                        let principal = if kind == "User" {
                            let gu = GroupUser::principal(identifier, PrincipalType::User, pbi_wire::powerbi::GroupUserAccessRight::None);
                            known_user(&GroupUser { graph_id: text(u, "graphId").map(str::to_string), ..gu })?
                        } else {
                            identifier.to_string()
                        };
                        Some(RightSpec { principal, principal_type: kind.into(), access_right: right.into() })
                    })
                    .collect::<Vec<_>>();
                let permissions = if kind == "Dataflow" || kind == "PaginatedReport" { Vec::new() } else { permissions };
                let name = a.name.clone().or_else(|| a.display_name.clone()).unwrap_or_else(|| id.to_string());
                artifacts.push(ArtifactSpec {
                    id: Some(id),
                    kind: kind.into(),
                    name,
                    description: a.description.clone(),
                    dataset: a.dataset_id.clone().filter(|_| kind == "Report"),
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
