//! What the read and onboarding commands share: the profile's Graph client, the tenant's
//! workspaces with their direct roles (one admin call per 5,000 workspaces), Power BI license
//! names from Graph SKUs, and the admin calls a command spent (read from the shared ledger).

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::TryStreamExt;
use pbi_client::{AdminGroupsQuery, GraphClient, Ledger, PowerBiClient, SystemClock};
use pbi_wire::admin::AdminGroup;
use pbi_wire::graph::{sku, SubscribedSku, User};
use pbi_wire::powerbi::GroupUser;
use uuid::Uuid;

use super::commands::{default_ledger, find_workspace, Session};
use super::profile::Profile;

/// A Graph client with the profile's client credentials (tokens for Graph's `.default`).
pub fn graph(profile: &Profile) -> Result<GraphClient, String> {
    let endpoints = pbi_client::Endpoints {
        powerbi: profile.powerbi_url.clone(),
        authority: profile.authority_url.clone(),
        graph: profile.graph_url.clone(),
    };
    PowerBiClient::builder(endpoints).credential(profile.app_credential()?).build_graph().map_err(|e| e.to_string())
}

/// The admin calls recorded in the profile's ledger for its tenant within the budget window
/// (the shared admin budget's, or every per-operation one's; never the scanner's).
/// The difference before and after a command is what the command spent (retries included).
pub async fn ledger_calls(profile: &Profile) -> usize {
    let path = profile.ledger.clone().unwrap_or_else(default_ledger);
    let Ok(ledger) = Ledger::file(&path, profile.pacing(), Arc::new(SystemClock)) else { return 0 };
    ledger.snapshot(profile.tenant.as_deref().unwrap_or_default()).await.map(|l| l.admin_calls()).unwrap_or(0)
}

/// A workspace of the tenant with its direct principals.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub id: Uuid,
    pub name: String,
    pub users: Vec<GroupUser>,
}

impl Workspace {
    /// From an admin list or a scan: the principals' own roles (service-principal profiles apart).
    pub fn new(id: Uuid, name: String, users: Option<Vec<GroupUser>>) -> Workspace {
        Workspace { id, name, users: users.unwrap_or_default().into_iter().filter(|u| u.profile.is_none()).collect() }
    }
}

/// Every active workspace of the tenant with `expand` (`users`, `reports`, …):
/// `GET /admin/groups`, 5,000 workspaces an admin call.
pub async fn admin_groups(s: &Session, expand: &str) -> Result<Vec<AdminGroup>, String> {
    let q = AdminGroupsQuery { expand: Some(expand.into()), filter: Some("state eq 'Active'".into()) };
    let pages: Vec<Vec<AdminGroup>> = s.client.groups_as_admin_stream(5000, &q).try_collect().await.map_err(|e| e.to_string())?;
    Ok(pages.into_iter().flatten().collect())
}

/// A workspace named by the user, and whether the caller holds a role in it (then the free
/// workspace endpoints serve; otherwise the admin endpoints, which spend the admin budget).
#[derive(Debug, Clone)]
pub struct Target {
    pub id: Uuid,
    pub name: String,
    pub member: bool,
}

/// A workspace by name or id: among the caller's own first (free), else the tenant's
/// (`GET /admin/groups?$filter=…`, one admin call).
pub async fn resolve_workspace(s: &Session, name_or_id: &str) -> Result<Target, String> {
    if let Ok((id, name)) = find_workspace(s, name_or_id).await {
        return Ok(Target { id, name, member: true });
    }
    let filter = match Uuid::parse_str(name_or_id) {
        Ok(id) => format!("id eq '{id}'"),
        Err(_) => format!("name eq '{}'", name_or_id.replace('\'', "''")),
    };
    let q = AdminGroupsQuery { filter: Some(format!("{filter} and state eq 'Active'")), expand: None };
    let found = s.client.get_groups_as_admin(2, None, &q).await.map_err(|e| e.to_string())?;
    match found.value.as_slice() {
        [one] => Ok(Target { id: one.id, name: one.name.clone(), member: false }),
        [] => Err(format!("no workspace '{name_or_id}' in the tenant")),
        _ => Err(format!("several workspaces are named '{name_or_id}': use the id")),
    }
}

/// Every active workspace of the tenant with its direct roles.
pub async fn workspaces(s: &Session) -> Result<Vec<Workspace>, String> {
    Ok(admin_groups(s, "users").await?.into_iter().map(|g| Workspace::new(g.id, g.name, g.users)).collect())
}

/// Power BI license names by SKU id (`Pro`, `PremiumPerUser`, …) from `subscribedSkus`.
#[derive(Debug, Clone, Default)]
pub struct Licenses {
    pub skus: Vec<SubscribedSku>,
}

impl Licenses {
    pub async fn load(graph: &GraphClient) -> Result<Licenses, String> {
        Ok(Licenses { skus: graph.subscribed_skus().await.map_err(|e| e.to_string())? })
    }

    pub fn part_number(&self, sku_id: Uuid) -> Option<&str> {
        self.skus.iter().find(|s| s.sku_id == sku_id).map(|s| s.sku_part_number.as_str())
    }

    pub fn sku_id(&self, part_number: &str) -> Option<Uuid> {
        self.skus.iter().find(|s| s.sku_part_number.eq_ignore_ascii_case(part_number)).map(|s| s.sku_id)
    }

    /// The Power BI `licenseType` a user's assigned licenses give: the best of PPU, Pro, Free.
    pub fn license_type(&self, user: &User) -> &'static str {
        let held: Vec<&str> = user.assigned_licenses.iter().flatten().filter_map(|l| self.part_number(l.sku_id)).collect();
        license_type_of(&held)
    }

    /// Every license of a user by part number, for display.
    pub fn names(&self, user: &User) -> Vec<String> {
        user.assigned_licenses
            .iter()
            .flatten()
            .map(|l| self.part_number(l.sku_id).map(str::to_string).unwrap_or_else(|| l.sku_id.to_string()))
            .collect()
    }
}

pub fn license_type_of(part_numbers: &[&str]) -> &'static str {
    if part_numbers.iter().any(|p| p.eq_ignore_ascii_case(sku::PREMIUM_PER_USER)) {
        "PremiumPerUser"
    } else if part_numbers.iter().any(|p| p.eq_ignore_ascii_case(sku::PRO)) {
        "Pro"
    } else {
        "Free"
    }
}

/// Every user of the directory by id, through Graph's paged list.
pub async fn users_by_id(graph: &GraphClient) -> Result<BTreeMap<Uuid, User>, String> {
    let users: Vec<User> = graph.users(None, Some(999)).try_collect().await.map_err(|e| e.to_string())?;
    Ok(users.into_iter().map(|u| (u.id, u)).collect())
}

/// The role order: Admin > Member > Contributor > Viewer.
pub fn role_rank(role: &str) -> u8 {
    match role {
        "Admin" => 4,
        "Member" => 3,
        "Contributor" => 2,
        "Viewer" => 1,
        _ => 0,
    }
}
