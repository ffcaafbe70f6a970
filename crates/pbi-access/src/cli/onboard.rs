//! `pbi-access onboard UPN --workspace W --role R [--license pro|ppu] [--dataset D --permission P]`:
//! check the account (Graph), assign the license and wait until Graph lists it, add the
//! workspace roles (verified add), grant the dataset permission, then read everything back.
//! Each step first reads what is there, so a second run changes nothing.
//!
//! Where the caller holds a role, the workspace endpoints do the work and onboarding spends no
//! admin budget except one read-back of `licenseType` (the user's, whatever the workspace);
//! other workspaces are found and changed through the admin endpoints.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use pbi_client::AddOutcome;
use pbi_client::GraphClient;
use pbi_wire::artifacts::{DatasetUserAccess, DatasetUserAccessRight};
use pbi_wire::graph::{sku, User};
use pbi_wire::powerbi::{GroupUser, GroupUserAccessRight, PrincipalType};

use super::commands::{fail, render, Session};
use super::directory::{graph, ledger_calls, resolve_workspace, role_rank, Licenses, Target};
use super::exit;
use super::output::{Format, Rows};
use super::progress;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum License {
    Pro,
    Ppu,
}

impl License {
    fn part_number(self) -> &'static str {
        match self {
            License::Pro => sku::PRO,
            License::Ppu => sku::PREMIUM_PER_USER,
        }
    }
}

pub struct Request {
    pub upn: String,
    pub workspaces: Vec<String>,
    pub role: GroupUserAccessRight,
    pub license: Option<License>,
    pub dataset: Option<String>,
    pub permission: Option<String>,
    /// Set as the user's `usageLocation` when it has none (a license needs one).
    pub usage_location: Option<String>,
    /// How long to wait for the license to show in `licenseDetails`.
    pub license_wait: Duration,
}

pub fn parse_role(text: &str) -> Result<GroupUserAccessRight, String> {
    GroupUserAccessRight::ALL
        .into_iter()
        .filter(|r| *r != GroupUserAccessRight::None)
        .find(|r| r.as_str().eq_ignore_ascii_case(text))
        .ok_or_else(|| format!("'{text}' is not a role: Admin, Member, Contributor or Viewer"))
}

/// `Read`, `ReadReshare`, `ReadExplore`, `ReadReshareExplore`, … as capability words.
fn words(right: &str) -> Vec<&'static str> {
    ["Read", "Write", "Reshare", "Explore", "Copy"].into_iter().filter(|w| right.contains(w)).collect()
}

struct Report {
    rows: Rows,
    changed: usize,
}

impl Report {
    fn step(&mut self, step: &str, target: &str, outcome: &str) {
        if !outcome.starts_with("unchanged") && outcome != "verified" {
            self.changed += 1;
        }
        self.rows.push(vec![step.into(), target.into(), outcome.into()]);
    }
}

/// The `licenseType` a workspace's admin user list shows for `upn`.
fn license_type_in(users: &[GroupUser], upn: &str) -> Option<String> {
    users.iter().find(|u| u.identifier.as_deref().is_some_and(|i| i.eq_ignore_ascii_case(upn))).and_then(|u| u.license_type.clone())
}

pub async fn onboard(s: &Session, req: &Request, format: Format) -> ExitCode {
    let before = ledger_calls(&s.profile).await;
    let graph = match graph(&s.profile) {
        Ok(g) => g,
        Err(e) => return fail(exit::USAGE, e),
    };
    let mut report = Report { rows: Rows::new(&["step", "target", "outcome"]), changed: 0 };
    let steps = async {
        let (user, upn) = check_account(&graph, req, &mut report).await?;
        if let Some(license) = req.license {
            assign_license(&graph, req, license, &user, &upn, format, &mut report).await?;
        }
        let mut targets: Vec<Target> = Vec::new();
        for w in &req.workspaces {
            targets.push(resolve_workspace(s, w).await.map_err(|e| fail(exit::FAILURE, e))?);
        }
        grant_roles(s, req, &upn, &targets, &mut report).await?;
        if let (Some(dataset), Some(permission)) = (&req.dataset, &req.permission) {
            grant_dataset_permission(s, dataset, permission, &upn, &targets, &mut report).await?;
        }
        read_back(s, req, &upn, &targets, format).await
    };
    if let Err(code) = steps.await {
        return code;
    }
    let code = render(&report.rows, format);
    eprintln!(
        "{} change(s); {} admin call(s) spent{}",
        report.changed,
        ledger_calls(&s.profile).await.saturating_sub(before),
        if report.changed == 0 { "; nothing to do, the user was already onboarded" } else { "" }
    );
    code
}

/// Step 1: The account exists and can sign in.
async fn check_account(graph: &GraphClient, req: &Request, report: &mut Report) -> Result<(User, String), ExitCode> {
    let user = match graph.get_user(&req.upn).await {
        Ok(u) => u,
        Err(e) => return Err(fail(exit::FAILURE, format!("no account '{}' in the directory: {e}", req.upn))),
    };
    if user.account_enabled == Some(false) {
        return Err(fail(exit::FAILURE, format!("the account '{}' is disabled: enable it in Entra first", req.upn)));
    }
    let upn = user.user_principal_name.clone().unwrap_or_else(|| req.upn.clone());
    report.step("account", &upn, "verified");

    Ok((user, upn))
}

/// Step 2: The license, through Graph, then wait until it is listed.
async fn assign_license(
    graph: &GraphClient,
    req: &Request,
    license: License,
    user: &User,
    upn: &str,
    format: Format,
    report: &mut Report,
) -> Result<(), ExitCode> {
    let licenses = match Licenses::load(graph).await {
        Ok(l) => l,
        Err(e) => return Err(fail(exit::FAILURE, e)),
    };
    let Some(sku_id) = licenses.sku_id(license.part_number()) else {
        return Err(fail(exit::FAILURE, format!("the tenant has no {} subscription", license.part_number())));
    };
    if user.usage_location.is_none() {
        let Some(country) = &req.usage_location else {
            return Err(fail(
                exit::FAILURE,
                format!("{upn} has no usageLocation, and Entra assigns no license without one: add --usage-location with a two-letter country code"),
            ));
        };
        if let Err(e) = graph.update_user(&user.id.to_string(), &serde_json::json!({ "usageLocation": country })).await {
            return Err(fail(exit::FAILURE, format!("cannot set the usageLocation of {upn}: {e}")));
        }
        report.step("usage location", country, "set");
    }
    let held = |details: &[pbi_wire::graph::LicenseDetails]| details.iter().any(|d| d.sku_id == sku_id);
    // The account as read in step 1 already says which licenses it has (direct and through
    // groups): no second read before assigning.
    let assigned = user.assigned_licenses.as_deref().unwrap_or_default().iter().any(|l| l.sku_id == sku_id);
    if assigned {
        report.step("license", license.part_number(), "unchanged");
    } else {
        if let Err(e) = graph.assign_license(&user.id.to_string(), &[sku_id], &[]).await {
            return Err(fail(exit::FAILURE, format!("assignLicense {}: {e}", license.part_number())));
        }
        let started = Instant::now();
        let mut seen = false;
        let spinner = progress::spinner(
            format!("waiting up to {} for licenseDetails to list {}", progress::human(req.license_wait), license.part_number()),
            progress::visible(format),
        );
        while started.elapsed() <= req.license_wait {
            if graph.license_details(&user.id.to_string()).await.is_ok_and(|d| held(&d)) {
                seen = true;
                break;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        spinner.finish_and_clear();
        if !seen {
            eprintln!(
                    "pbi-access: warning: {} was assigned but licenseDetails does not list it after {} s; Power BI may treat the user as Free until it does",
                    license.part_number(),
                    req.license_wait.as_secs()
                );
        }
        report.step("license", license.part_number(), if seen { "assigned" } else { "assigned (not yet listed)" });
    }
    Ok(())
}

/// Step 3: Workspace roles, through the workspace endpoint; verified add on ambiguous answers.
async fn grant_roles(s: &Session, req: &Request, upn: &str, targets: &[Target], report: &mut Report) -> Result<(), ExitCode> {
    for t in targets {
        let name = &t.name;
        let current = match users_of(s, t).await {
            Ok(users) => role_of(&users, upn),
            Err(e) => return Err(fail(exit::FAILURE, format!("{name}: {e}"))),
        };
        let body = GroupUser::principal(upn.to_string(), PrincipalType::User, req.role);
        let added = |o: AddOutcome| match o {
            AddOutcome::Added => format!("added as {}", req.role.as_str()),
            _ => format!("added as {} (confirmed by reading back)", req.role.as_str()),
        };
        let outcome = match current {
            Some(r) if r == req.role => Ok("unchanged".to_string()),
            Some(r) if role_rank(r.as_str()) > role_rank(req.role.as_str()) => {
                Ok(format!("unchanged (already {}; onboarding never demotes)", r.as_str()))
            }
            Some(r) if t.member => {
                s.client.update_group_user(t.id, &body).await.map(|()| format!("{} -> {}", r.as_str(), req.role.as_str()))
            }
            // The admin add sets the role of a principal already there.
            Some(r) => {
                s.client.add_user_as_admin(t.id, &body).await.map(|()| format!("{} -> {} (admin endpoint)", r.as_str(), req.role.as_str()))
            }
            None if t.member => s.client.add_group_user_verified(t.id, &body).await.map(added),
            None => s.client.add_user_as_admin_verified(t.id, &body).await.map(|o| format!("{} (admin endpoint)", added(o))),
        };
        match outcome {
            Ok(o) => report.step("workspace role", name, &o),
            Err(e) if !t.member && e.status().is_some_and(|st| st.as_u16() == 403) => {
                return Err(fail(
                    exit::FAILURE,
                    format!("{name}: the caller holds no role in this workspace, and the admin write endpoints refused it ({e}); Power BI opens them to Fabric administrators' delegated tokens, not to service principals: give the app a role in the workspace"),
                ))
            }
            Err(e) => return Err(fail(exit::FAILURE, format!("{name}: {e}"))),
        }
    }
    Ok(())
}

/// Step 4: The dataset permission, in the first named workspace that holds the dataset.
async fn grant_dataset_permission(
    s: &Session,
    dataset: &str,
    permission: &str,
    upn: &str,
    targets: &[Target],
    report: &mut Report,
) -> Result<(), ExitCode> {
    let right: DatasetUserAccessRight = match permission.parse() {
        Ok(r) => r,
        Err(e) => return Err(fail(exit::USAGE, e)),
    };
    let mut found = None;
    for t in targets.iter().filter(|t| t.member) {
        if let Ok(list) = s.client.get_datasets_in_group(t.id).await {
            if let Some(d) =
                list.into_iter().find(|d| d.id.to_string().eq_ignore_ascii_case(dataset) || d.name.eq_ignore_ascii_case(dataset))
            {
                found = Some((t.id, d));
                break;
            }
        }
    }
    let Some((group, d)) = found else {
        return Err(fail(exit::FAILURE, format!("no dataset '{dataset}' in the named workspaces the caller holds a role in")));
    };
    let id = d.id.to_string();
    let holds = |list: &[DatasetUserAccess]| {
        list.iter().any(|a| {
            a.identifier.eq_ignore_ascii_case(upn) && words(right.as_str()).iter().all(|w| a.dataset_user_access_right.as_str().contains(w))
        })
    };
    match s.client.get_dataset_users(Some(group), &id).await {
        Ok(list) if holds(&list) => report.step("dataset permission", &d.name, "unchanged"),
        Ok(_) => {
            let access =
                DatasetUserAccess { identifier: upn.to_string(), principal_type: PrincipalType::User, dataset_user_access_right: right };
            if let Err(e) = s.client.post_dataset_user(Some(group), &id, &access).await {
                return Err(fail(exit::FAILURE, format!("{}: {e}", d.name)));
            }
            match s.client.get_dataset_users(Some(group), &id).await {
                Ok(list) if holds(&list) => report.step("dataset permission", &d.name, &format!("granted {}", right.as_str())),
                Ok(_) => return Err(fail(exit::FAILURE, format!("{}: the permission is not there after granting it", d.name))),
                Err(e) => return Err(fail(exit::FAILURE, format!("{}: {e}", d.name))),
            }
        }
        Err(e) => return Err(fail(exit::FAILURE, format!("{}: {e}", d.name))),
    }
    Ok(())
}

/// Step 5: Read back the roles, and the license Power BI sees. `licenseType` is the user's, the same
/// in every workspace: it is read once, from an admin list already read if there is one, else
/// with one admin read of the first workspace (never one per workspace).
async fn read_back(s: &Session, req: &Request, upn: &str, targets: &[Target], format: Format) -> Result<(), ExitCode> {
    let bar = progress::bar(targets.len() as u64, progress::visible(format) && !targets.is_empty());
    bar.set_message("reading back the roles");
    let mut license_seen: Option<(String, Option<String>)> = None;
    for t in targets {
        let name = &t.name;
        bar.inc(1);
        let users = match users_of(s, t).await {
            Ok(u) => u,
            Err(e) => return Err(fail(exit::FAILURE, format!("{name}: {e}"))),
        };
        if role_of(&users, upn).is_none_or(|r| role_rank(r.as_str()) < role_rank(req.role.as_str())) {
            return Err(fail(exit::FAILURE, format!("{name}: the role is not {} after onboarding", req.role.as_str())));
        }
        if req.license.is_some() && !t.member && license_seen.is_none() {
            license_seen = Some((name.clone(), license_type_in(&users, upn)));
        }
    }
    bar.finish_and_clear();
    if let (Some(_), None, Some(first)) = (req.license, &license_seen, targets.first()) {
        let listed = s.client.get_group_users_as_admin(first.id).await.ok();
        license_seen = Some((first.name.clone(), listed.and_then(|l| license_type_in(&l, upn))));
    }
    if let Some((name, seen)) = &license_seen {
        match seen.as_deref() {
            Some("Free") | None => eprintln!(
                "pbi-access: warning: Power BI still reports {upn} as {} in {name}; the license takes effect after propagation",
                seen.as_deref().unwrap_or("unknown")
            ),
            Some(_) => {}
        }
    }
    Ok(())
}

/// A workspace's users: through the workspace endpoint where the caller holds a role, else the
/// admin endpoint.
async fn users_of(s: &Session, t: &Target) -> Result<Vec<GroupUser>, pbi_client::ClientError> {
    if t.member {
        s.client.get_group_users(t.id).await
    } else {
        s.client.get_group_users_as_admin(t.id).await
    }
}

/// The role `upn` holds among `users`.
fn role_of(users: &[GroupUser], upn: &str) -> Option<GroupUserAccessRight> {
    users
        .iter()
        .find(|u| u.principal_type == Some(PrincipalType::User) && u.identifier.as_deref().is_some_and(|i| i.eq_ignore_ascii_case(upn)))
        .map(|u| u.group_user_access_right)
}
