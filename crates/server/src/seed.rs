//! The large-tenant generator behind `pbi-access seed`: a realistic tenant of any size, the same
//! for the same seed, written with multi-row inserts in one transaction (all of it lands, or
//! none).
//!
//! What it makes: users (3% guests, 2% disabled) sharing one printed password; a Fabric
//! administrator; security groups with nesting and Microsoft 365 groups with owners; service
//! principals (one with a printed secret); licenses (Pro, Premium Per User, Free; direct and
//! group-based); capacities with admins; workspaces of every kind and state (personal,
//! Microsoft 365-backed, on capacity, deleted, orphaned) whose memberships follow a long tail;
//! artifacts of every kind; direct shares, dataset permissions and app audiences; subscriptions;
//! and 30 days of activity history. One user, `heavy@…`, reaches about 5,000 artifacts through
//! direct roles, a group's roles and direct shares (the benchmarks page through them).
//!
//! Ids, names and memberships depend only on the seed and the sizes; times are relative to the
//! clock's now.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::AnyConnection;
use uuid::Uuid;

use crate::auth::credentials::{hash_password, hash_secret};
use crate::clock::Clock;
use crate::domain::audit::ArtifactKind;
use crate::domain::identity::{DirGroup, DirUser};
use crate::domain::UserType;
use crate::domain::{ClientSecret, DirectoryRole, GroupKind, PrincipalKind, PrincipalRef, Role, Tenant};
use crate::store::seed::{self as bulk, SeedArtifact, SeedCapacity, SeedSubscription, SeedWorkspace};
use crate::store::{self, ActivityEvent, Store, StoreError};

/// Rows buffered per table before they are written.
const FLUSH_ROWS: usize = 60_000;
const DAY_MS: i64 = 24 * 3600 * 1000;
/// Artifacts the heavy user should reach.
const HEAVY_TARGET: usize = 5_000;

#[derive(Debug, Clone)]
pub struct SeedParams {
    pub users: usize,
    pub workspaces: usize,
    pub seed: u64,
    /// The tenant's domain; default `seed{seed}.onmicrosoft.com`.
    pub domain: Option<String>,
}

/// Row counts of what was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedCounts {
    pub users: usize,
    pub groups: usize,
    pub group_members: usize,
    pub service_principals: usize,
    pub licenses: usize,
    pub capacities: usize,
    pub workspaces: usize,
    pub workspace_roles: usize,
    pub artifacts: usize,
    pub artifact_permissions: usize,
    pub subscriptions: usize,
    pub activity_events: usize,
}

/// The generated tenant and how to use it.
#[derive(Debug, Clone)]
pub struct SeededTenant {
    pub tenant_id: Uuid,
    pub domain: String,
    /// The Fabric administrator.
    pub admin_upn: String,
    /// Every user's password.
    pub password: String,
    /// The `automation` service principal's application (client) id and secret.
    pub client_id: Uuid,
    pub client_secret: String,
    /// The user reaching about 5,000 artifacts.
    pub heavy_upn: String,
    pub heavy_id: Uuid,
    pub counts: SeedCounts,
    pub elapsed: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for SeedError {
    fn from(e: sqlx::Error) -> Self {
        SeedError::Store(e.into())
    }
}

const FIRST: &[&str] = &[
    "Ada", "Ben", "Chloe", "Dev", "Elif", "Farah", "Gus", "Hana", "Ivo", "Jun", "Kemal", "Lena", "Mateo", "Nia", "Omar", "Priya", "Quinn",
    "Rosa", "Sven", "Tara", "Uma", "Victor", "Wen", "Xavi", "Yara", "Zoe",
];
const LAST: &[&str] = &[
    "Adams", "Berg", "Costa", "Diaz", "Eklund", "Fischer", "Garcia", "Hughes", "Ito", "Jensen", "Kowalski", "Lopez", "Moreau", "Nakamura",
    "Okafor", "Petrov", "Quist", "Rossi", "Silva", "Tanaka", "Umar", "Varga", "Weber", "Xu", "Yilmaz", "Zhang",
];
const DEPARTMENTS: &[&str] =
    &["Sales", "Finance", "Marketing", "Operations", "HR", "Engineering", "Support", "Legal", "Procurement", "Logistics", "Research", "IT"];
const TOPICS: &[&str] = &[
    "Revenue",
    "Pipeline",
    "Forecast",
    "Headcount",
    "Churn",
    "Inventory",
    "Margin",
    "Budget",
    "Tickets",
    "Usage",
    "Quality",
    "Spend",
    "Attrition",
    "Campaigns",
    "Shipments",
    "Backlog",
];

fn uuid(rng: &mut StdRng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.gen()).into_uuid()
}

fn alnum(rng: &mut StdRng, n: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    (0..n).map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char).collect()
}

/// Workspace sizes with a long tail: most small, a few in the hundreds.
fn workspace_size(rng: &mut StdRng) -> usize {
    match rng.gen_range(0..100) {
        0..=59 => rng.gen_range(2..=8),
        60..=89 => rng.gen_range(9..=40),
        90..=98 => rng.gen_range(41..=150),
        _ => rng.gen_range(151..=600),
    }
}

fn pick_role(rng: &mut StdRng) -> Role {
    match rng.gen_range(0..100) {
        0..=9 => Role::Admin,
        10..=29 => Role::Member,
        30..=59 => Role::Contributor,
        _ => Role::Viewer,
    }
}

/// Buffers the workspace tables' rows and writes them in large statements, parents first
/// (workspaces, then their roles and artifacts, then the artifacts' permissions) so foreign
/// keys always find their rows.
struct Buffers {
    workspaces: Vec<SeedWorkspace>,
    members: Vec<(Uuid, PrincipalRef, Role, i64)>,
    artifacts: Vec<SeedArtifact>,
    grants: Vec<(Uuid, PrincipalRef, String, i64)>,
    counts: SeedCounts,
}

impl Buffers {
    /// Write everything buffered, when `all` or once any table has `FLUSH_ROWS` rows waiting.
    async fn flush(&mut self, conn: &mut AnyConnection, tenant: Uuid, all: bool) -> Result<(), SeedError> {
        let full =
            [self.workspaces.len(), self.members.len(), self.artifacts.len(), self.grants.len()].into_iter().any(|n| n >= FLUSH_ROWS);
        if !all && !full {
            return Ok(());
        }
        self.counts.workspaces += self.workspaces.len();
        bulk::insert_workspaces(conn, tenant, &std::mem::take(&mut self.workspaces)).await?;
        self.counts.workspace_roles += self.members.len();
        bulk::insert_workspace_members(conn, &std::mem::take(&mut self.members)).await?;
        self.counts.artifacts += self.artifacts.len();
        bulk::insert_artifacts(conn, tenant, &std::mem::take(&mut self.artifacts)).await?;
        self.counts.artifact_permissions += self.grants.len();
        bulk::insert_artifact_permissions(conn, &std::mem::take(&mut self.grants)).await?;
        Ok(())
    }
}

/// A workspace as the generator plans it.
struct PlannedWorkspace {
    id: Uuid,
    name: String,
    personal: bool,
    deleted: bool,
    capacity: Option<Uuid>,
    /// Report and dashboard ids, for subscriptions and history.
    viewable: Vec<(Uuid, ArtifactKind, String)>,
}

/// What a seed's tenant is reached with. The generator draws these first, so they can be
/// recomputed from the seed alone (for example to reuse a seeded database).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedCredentials {
    pub tenant_id: Uuid,
    pub domain: String,
    pub admin_upn: String,
    pub heavy_upn: String,
    pub password: String,
    pub client_id: Uuid,
    pub client_secret: String,
}

fn draw_credentials(rng: &mut StdRng, params: &SeedParams) -> SeedCredentials {
    let domain = params.domain.clone().unwrap_or_else(|| format!("seed{}.onmicrosoft.com", params.seed));
    let tenant_id = uuid(rng);
    let password = format!("{}-{}9", alnum(rng, 10), alnum(rng, 6));
    let client_secret = format!("{}~{}", alnum(rng, 3), alnum(rng, 36));
    let client_id = uuid(rng);
    SeedCredentials {
        tenant_id,
        admin_upn: format!("admin@{domain}"),
        heavy_upn: format!("heavy@{domain}"),
        domain,
        password,
        client_id,
        client_secret,
    }
}

/// The credentials `generate` gives the tenant of `params`.
pub fn credentials(params: &SeedParams) -> SeedCredentials {
    draw_credentials(&mut StdRng::seed_from_u64(params.seed), params)
}

/// Generate a tenant into `store`.
pub async fn generate(store: &Store, clock: &dyn Clock, params: &SeedParams) -> Result<SeededTenant, SeedError> {
    if params.users < 10 {
        return Err(SeedError::Invalid("--users must be at least 10".into()));
    }
    if params.workspaces < 1 {
        return Err(SeedError::Invalid("--workspaces must be at least 1".into()));
    }
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(params.seed);
    let now = clock.now_millis();
    let SeedCredentials { tenant_id, domain, password, client_id, client_secret, .. } = draw_credentials(&mut rng, params);
    if store.find_tenant(&domain).await?.is_some() {
        return Err(SeedError::Invalid(format!("a tenant with the domain {domain} already exists; choose another --seed")));
    }
    let tenant = Tenant { id: tenant_id, name: format!("Seeded tenant {}", params.seed), domain: domain.clone() };
    let password_hash = hash_password(&password);

    let mut tx = store.bulk_write().await?;
    tx.set_tenant(tenant.id);
    let conn: &mut AnyConnection = &mut tx;
    store::insert_tenant(&mut *conn, &tenant, now).await?;
    let mut counts = SeedCounts::default();

    // Users.
    let mut users: Vec<DirUser> = Vec::with_capacity(params.users);
    for i in 0..params.users {
        let (local, name) = match i {
            0 => ("admin".to_string(), "Fabric Admin".to_string()),
            1 => ("heavy".to_string(), "Hana Heavy".to_string()),
            _ => {
                let (f, l) = (FIRST[rng.gen_range(0..FIRST.len())], LAST[rng.gen_range(0..LAST.len())]);
                (format!("{}.{}{i}", f.to_lowercase(), l.to_lowercase()), format!("{f} {l}"))
            }
        };
        let roll = rng.gen_range(0..100);
        let guest = i >= 2 && roll < 3;
        let enabled = !(i >= 2 && (3..5).contains(&roll));
        let (upn, mail) = if guest {
            (format!("{local}_partner.example#EXT#@{domain}"), format!("{local}@partner.example"))
        } else {
            (format!("{local}@{domain}"), format!("{local}@{domain}"))
        };
        let mut user = DirUser::new(uuid(&mut rng), upn, name);
        user.mail = Some(mail);
        user.user_type = if guest { UserType::Guest } else { UserType::Member };
        user.account_enabled = enabled;
        users.push(user);
    }
    let rows: Vec<store::NewUser> =
        users.iter().map(|u| store::NewUser { user: u.clone(), password_hash: Some(password_hash.clone()) }).collect();
    store::insert_users(&mut *conn, tenant.id, &rows, now).await?;
    drop(rows);
    bulk::insert_role_members(&mut *conn, tenant.id, DirectoryRole::FabricAdministrator, &[users[0].id]).await?;
    counts.users = users.len();
    let user_ref = |i: usize| PrincipalRef { kind: PrincipalKind::User, object_id: users[i].id };

    // Groups: security groups (some nested) and Microsoft 365 groups with owners.
    let security = (params.users / 50).max(5);
    let m365 = (params.users / 400).max(2);
    let mut groups: Vec<DirGroup> = Vec::new();
    for i in 0..security {
        let dept = DEPARTMENTS[i % DEPARTMENTS.len()];
        groups.push(DirGroup::new(uuid(&mut rng), format!("{dept} team {i}"), GroupKind::Security));
    }
    for i in 0..m365 {
        let dept = DEPARTMENTS[rng.gen_range(0..DEPARTMENTS.len())];
        groups.push(DirGroup::new(uuid(&mut rng), format!("{dept} community {i}"), GroupKind::Microsoft365));
    }
    let heavy_group = uuid(&mut rng);
    groups.push(DirGroup::new(heavy_group, "Heavy readers", GroupKind::Security));
    store::insert_groups(&mut *conn, tenant.id, &groups, now).await?;
    counts.groups = groups.len();
    let group_ref = |id: Uuid| PrincipalRef { kind: PrincipalKind::Group, object_id: id };
    let mut group_members: Vec<(Uuid, PrincipalRef)> = Vec::new();
    for i in 2..params.users {
        let k = match rng.gen_range(0..100) {
            0..=39 => 0,
            40..=74 => 1,
            75..=89 => 2,
            _ => 3,
        };
        let mut seen = HashSet::new();
        for _ in 0..k {
            let g = rng.gen_range(0..security);
            if seen.insert(g) {
                group_members.push((groups[g].id, user_ref(i)));
            }
        }
    }
    // Nesting: a lower-numbered group inside a higher-numbered one, so there are no cycles.
    for g in 10..security {
        if rng.gen_bool(0.1) {
            let inner = rng.gen_range(0..g);
            group_members.push((groups[g].id, group_ref(groups[inner].id)));
        }
    }
    let mut owners = Vec::new();
    for g in &groups[security..security + m365] {
        let g = &g.id;
        let mut seen = HashSet::new();
        for _ in 0..rng.gen_range(5..=30) {
            let u = rng.gen_range(2..params.users);
            if seen.insert(u) {
                group_members.push((*g, user_ref(u)));
            }
        }
        let owner = rng.gen_range(2..params.users);
        owners.push((*g, users[owner].id));
    }
    group_members.push((heavy_group, user_ref(1)));
    counts.group_members = group_members.len();
    store::insert_group_members(&mut *conn, tenant.id, &group_members, now).await?;
    store::insert_group_owners(&mut *conn, tenant.id, &owners, now).await?;

    // Service principals: `automation` with the printed secret, and a few others.
    let mut sps = vec![(uuid(&mut rng), client_id, "automation".to_string())];
    for i in 1..10 {
        sps.push((uuid(&mut rng), uuid(&mut rng), format!("integration app {i}")));
    }
    bulk::insert_service_principals(&mut *conn, tenant.id, &sps, now).await?;
    let secret = ClientSecret { id: uuid(&mut rng), secret_hash: hash_secret(&client_secret), expires_at: now + 2 * 365 * DAY_MS };
    store::insert_client_secret(&mut *conn, tenant.id, sps[0].0, &secret, &client_secret[..3], now).await?;
    counts.service_principals = sps.len();
    let app_ref = |i: usize| PrincipalRef { kind: PrincipalKind::App, object_id: sps[i].0 };

    // Licenses.
    let pro = Uuid::parse_str("f8a1db68-be16-40ed-86d5-cb42ce701560").expect("a GUID");
    let ppu = Uuid::parse_str("c1d032e0-5619-4761-9b5c-75b6831e1711").expect("a GUID");
    let free = Uuid::parse_str("a403ebcc-fae0-4ca2-8c8c-7a907fd6c235").expect("a GUID");
    let seats = params.users as i64;
    store::insert_subscribed_skus(
        &mut *conn,
        tenant.id,
        &[(pro, "POWER_BI_PRO".into(), seats), (ppu, "PBI_PREMIUM_PER_USER".into(), seats / 10), (free, "POWER_BI_STANDARD".into(), seats)],
    )
    .await?;
    let mut licenses = Vec::new();
    for u in &users {
        match rng.gen_range(0..100) {
            0..=59 => licenses.push((PrincipalRef { kind: PrincipalKind::User, object_id: u.id }, pro)),
            60..=64 => licenses.push((PrincipalRef { kind: PrincipalKind::User, object_id: u.id }, ppu)),
            65..=84 => licenses.push((PrincipalRef { kind: PrincipalKind::User, object_id: u.id }, free)),
            _ => {}
        }
    }
    store::insert_licenses(&mut *conn, tenant.id, &licenses, now).await?;
    let group_licenses = vec![(group_ref(groups[0].id), pro), (group_ref(groups[1].id), pro)];
    store::insert_licenses(&mut *conn, tenant.id, &group_licenses, now).await?;
    counts.licenses = licenses.len() + group_licenses.len();

    // Capacities.
    let capacities: Vec<SeedCapacity> = (0..(params.workspaces / 1000).max(1))
        .map(|i| SeedCapacity {
            id: uuid(&mut rng),
            name: format!("Capacity {i}"),
            sku: ["P1", "F64", "A2"][i % 3].into(),
            region: ["West Europe", "East US", "Japan East"][i % 3].into(),
        })
        .collect();
    bulk::insert_capacities(&mut *conn, tenant.id, &capacities, now).await?;
    let mut capacity_users = Vec::new();
    for c in &capacities {
        capacity_users.push((c.id, user_ref(0), "Admin".to_string()));
        capacity_users.push((c.id, user_ref(rng.gen_range(2..params.users)), "Admin".to_string()));
        capacity_users.push((c.id, group_ref(groups[rng.gen_range(0..security)].id), "Assign".to_string()));
    }
    bulk::insert_capacity_users(&mut *conn, &capacity_users).await?;
    counts.capacities = capacities.len();

    // Workspaces, their roles and artifacts. The heavy user holds roles in some, its group in
    // others: enough to reach about HEAVY_TARGET artifacts.
    let heavy_direct = (params.workspaces / 4).min(300);
    let heavy_via_group = (params.workspaces / 4).min(250);
    let mut buffers =
        Buffers { workspaces: Vec::new(), members: Vec::new(), artifacts: Vec::new(), grants: Vec::new(), counts: SeedCounts::default() };
    let mut planned: Vec<PlannedWorkspace> = Vec::with_capacity(params.workspaces);
    let mut heavy_artifacts = 0usize;
    let m365_groups: Vec<Uuid> = groups[security..security + m365].iter().map(|g| g.id).collect();
    for i in 0..params.workspaces {
        let id = uuid(&mut rng);
        let created_at = now - rng.gen_range(31..900) * DAY_MS;
        let personal = rng.gen_range(0..100) < 10;
        let roll = rng.gen_range(0..100);
        let deleted = !personal && roll < 3;
        let orphaned = !personal && roll == 3;
        let backed = !personal && (4..6).contains(&roll);
        let owner = rng.gen_range(2..params.users);
        let dept = DEPARTMENTS[rng.gen_range(0..DEPARTMENTS.len())];
        let name = if personal { format!("PersonalWorkspace {} {i}", users[owner].display_name) } else { format!("{dept} workspace {i}") };
        let capacity = (!personal && rng.gen_range(0..100) < 30).then(|| capacities[rng.gen_range(0..capacities.len())].id);
        let modified_at = now - rng.gen_range(0..40 * 24) * 3600 * 1000;
        buffers.workspaces.push(SeedWorkspace {
            id,
            name: name.clone(),
            description: (!personal).then(|| format!("{dept} reporting")),
            kind: if personal { "PersonalGroup" } else { "Workspace" }.into(),
            state: if deleted { "Deleted" } else { "Active" }.into(),
            capacity,
            backing_group: backed.then(|| m365_groups[rng.gen_range(0..m365_groups.len())]),
            created_at,
            modified_at: modified_at.max(created_at),
        });
        // Roles.
        let mut seen: HashSet<Uuid> = HashSet::new();
        let mut add = |buffers: &mut Buffers, principal: PrincipalRef, role: Role, at: i64| {
            if seen.insert(principal.object_id) {
                buffers.members.push((id, principal, role, at));
            }
        };
        if personal {
            add(&mut buffers, user_ref(owner), Role::Admin, created_at);
        } else {
            let size = if backed { rng.gen_range(1..=4) } else { workspace_size(&mut rng) };
            for k in 0..size {
                let role = if k == 0 && !orphaned { Role::Admin } else { pick_role(&mut rng) };
                let role = if orphaned && role == Role::Admin { Role::Member } else { role };
                let principal = match rng.gen_range(0..100) {
                    0..=1 => app_ref(rng.gen_range(1..sps.len())),
                    2..=15 => group_ref(groups[rng.gen_range(0..security)].id),
                    _ => user_ref(rng.gen_range(2..params.users)),
                };
                add(&mut buffers, principal, role, created_at + k as i64);
            }
            if i % 7 == 0 {
                add(&mut buffers, app_ref(0), Role::Admin, created_at);
            }
        }
        let heavy_here = !personal && !deleted && {
            if heavy_direct > 0 && i % (params.workspaces / heavy_direct).max(1) == 0 && heavy_artifacts < HEAVY_TARGET {
                add(&mut buffers, user_ref(1), if i % 2 == 0 { Role::Member } else { Role::Contributor }, created_at);
                true
            } else if heavy_via_group > 0 && i % (params.workspaces / heavy_via_group).max(1) == 1 && heavy_artifacts < HEAVY_TARGET {
                add(&mut buffers, group_ref(heavy_group), Role::Viewer, created_at);
                true
            } else {
                false
            }
        };
        // Artifacts: datasets with their reports, then the rest.
        let mut viewable = Vec::new();
        let mut made: Vec<(Uuid, ArtifactKind)> = Vec::new();
        let configured_by = users[owner].upn.clone();
        let mut artifact = |buffers: &mut Buffers, rng: &mut StdRng, kind: ArtifactKind, name: String, dataset: Option<Uuid>| {
            let aid = uuid(rng);
            let at = created_at + rng.gen_range(0..30) * DAY_MS;
            buffers.artifacts.push(SeedArtifact {
                id: aid,
                workspace: id,
                kind,
                name: name.clone(),
                description: None,
                dataset,
                configured_by: matches!(kind, ArtifactKind::Dataset | ArtifactKind::Dataflow | ArtifactKind::Datamart)
                    .then(|| configured_by.clone()),
                created_at: at,
                modified_at: at.max(now - rng.gen_range(0..60) * DAY_MS),
            });
            made.push((aid, kind));
            if matches!(kind, ArtifactKind::Report | ArtifactKind::Dashboard) {
                viewable.push((aid, kind, name));
            }
            aid
        };
        for d in 0..rng.gen_range(1..=4) {
            let topic = TOPICS[rng.gen_range(0..TOPICS.len())];
            let dataset = artifact(&mut buffers, &mut rng, ArtifactKind::Dataset, format!("{topic} model {d}"), None);
            for r in 0..rng.gen_range(1..=3) {
                artifact(&mut buffers, &mut rng, ArtifactKind::Report, format!("{topic} report {d}.{r}"), Some(dataset));
            }
            if rng.gen_bool(0.3) {
                artifact(&mut buffers, &mut rng, ArtifactKind::PaginatedReport, format!("{topic} statement {d}"), Some(dataset));
            }
            if rng.gen_bool(0.1) {
                artifact(&mut buffers, &mut rng, ArtifactKind::Workbook, format!("{topic} workbook {d}.xlsx"), Some(dataset));
            }
        }
        for k in 0..rng.gen_range(0..=2) {
            artifact(&mut buffers, &mut rng, ArtifactKind::Dashboard, format!("{dept} dashboard {k}"), None);
        }
        if rng.gen_bool(0.3) {
            artifact(&mut buffers, &mut rng, ArtifactKind::Dataflow, format!("{dept} dataflow"), None);
        }
        if rng.gen_bool(0.05) {
            artifact(&mut buffers, &mut rng, ArtifactKind::Datamart, format!("{dept} datamart"), None);
        }
        if !personal && rng.gen_bool(0.15) {
            artifact(&mut buffers, &mut rng, ArtifactKind::App, format!("{dept} app"), None);
        }
        if heavy_here {
            heavy_artifacts += made.len() + 1;
        }
        // Direct permissions: shares, dataset permissions, app audiences.
        for (aid, kind) in &made {
            let (n, rights): (usize, &[&str]) = match kind {
                ArtifactKind::Report | ArtifactKind::PaginatedReport => (rng.gen_range(0..=20), &["Read", "ReadReshare", "ReadCopy"]),
                ArtifactKind::Dashboard => (rng.gen_range(0..=10), &["Read", "ReadReshare"]),
                ArtifactKind::Dataset => (rng.gen_range(0..=16), &["Read", "ReadReshare", "ReadExplore", "ReadReshareExplore"]),
                ArtifactKind::App => (rng.gen_range(5..=60), &["Read", "ReadExplore", "ReadReshare"]),
                ArtifactKind::Dataflow => (rng.gen_range(0..=3), &["Read", "ReadReshare"]),
                _ => (rng.gen_range(0..=2), &["Read"]),
            };
            let mut shared: HashSet<Uuid> = HashSet::new();
            for _ in 0..n {
                let principal = if rng.gen_range(0..100) < 12 {
                    group_ref(groups[rng.gen_range(0..groups.len() - 1)].id)
                } else {
                    user_ref(rng.gen_range(2..params.users))
                };
                if shared.insert(principal.object_id) {
                    let right = rights[rng.gen_range(0..rights.len())].to_string();
                    buffers.grants.push((*aid, principal, right, created_at + rng.gen_range(0..DAY_MS)));
                }
            }
            // The heavy user also holds direct shares outside its workspaces.
            if !heavy_here && heavy_artifacts < HEAVY_TARGET && rng.gen_bool(0.03) && shared.insert(users[1].id) {
                let right = kind.rights()[0].to_string();
                buffers.grants.push((*aid, user_ref(1), right, created_at));
                heavy_artifacts += 1;
            }
        }
        planned.push(PlannedWorkspace { id, name, personal, deleted, capacity, viewable });
        buffers.flush(&mut *conn, tenant.id, false).await?;
    }
    buffers.flush(&mut *conn, tenant.id, true).await?;
    counts.workspaces = buffers.counts.workspaces;
    counts.workspace_roles = buffers.counts.workspace_roles;
    counts.artifacts = buffers.counts.artifacts;
    counts.artifact_permissions = buffers.counts.artifact_permissions;

    // Subscriptions on reports and dashboards.
    let viewable: Vec<(Uuid, ArtifactKind, String, Uuid)> =
        planned.iter().filter(|w| !w.deleted).flat_map(|w| w.viewable.iter().map(move |(a, k, n)| (*a, *k, n.clone(), w.id))).collect();
    let mut subscriptions = Vec::new();
    if !viewable.is_empty() {
        for i in 0..params.users / 5 {
            let (artifact, kind, name, _) = &viewable[rng.gen_range(0..viewable.len())];
            let start = now - rng.gen_range(1..365) * DAY_MS;
            subscriptions.push(SeedSubscription {
                id: uuid(&mut rng),
                artifact: *artifact,
                owner: users[if i % 50 == 0 { 1 } else { rng.gen_range(2..params.users) }].id,
                title: format!("{name} digest"),
                frequency: ["Daily", "Weekly", "Hourly", "Monthly"][rng.gen_range(0..4)].into(),
                enabled: rng.gen_bool(0.85),
                start_date: start - start.rem_euclid(DAY_MS),
                end_date: start - start.rem_euclid(DAY_MS) + 365 * DAY_MS,
                attachment_format: ["PNG", "PDF", "PPTX"][rng.gen_range(0..3)].into(),
                sub_artifact: (*kind == ArtifactKind::Report).then(|| format!("Page {}", rng.gen_range(1..6))),
                created_at: start,
            });
        }
    }
    counts.subscriptions = subscriptions.len();
    bulk::insert_subscriptions(&mut *conn, tenant.id, &subscriptions).await?;

    // Thirty days of activity history.
    let per_day = (params.users / 20).clamp(50, 5000);
    let mut events = Vec::with_capacity(per_day.min(100_000));
    let live: Vec<&PlannedWorkspace> = planned.iter().filter(|w| !w.deleted).collect();
    for day in 0..30 {
        let day_start = now - (30 - day) * DAY_MS;
        for _ in 0..per_day {
            let at = day_start + rng.gen_range(0..DAY_MS);
            if at > now {
                continue;
            }
            let u = &users[rng.gen_range(0..params.users)];
            let w = live[rng.gen_range(0..live.len())];
            let roll = rng.gen_range(0..100);
            let (activity, mut item) = match (roll, w.viewable.is_empty()) {
                (0..=59, false) | (75..=79, false) => {
                    let (aid, kind, name) = &w.viewable[rng.gen_range(0..w.viewable.len())];
                    let activity = match (roll, kind) {
                        (75..=77, _) => "ExportReport",
                        (78..=79, _) => "ShareReport",
                        (_, ArtifactKind::Dashboard) => "ViewDashboard",
                        _ => "ViewReport",
                    };
                    let key = if *kind == ArtifactKind::Dashboard { "DashboardId" } else { "ReportId" };
                    let mut item = serde_json::json!({
                        "ArtifactId": aid.to_string(), "ArtifactName": name, "ItemName": name,
                        "ArtifactKind": kind.as_str(),
                        "DistributionMethod": "Workspace", "ConsumptionMethod": "Power BI Web",
                    });
                    item[key] = aid.to_string().into();
                    if *kind == ArtifactKind::Dashboard {
                        item["DashboardName"] = name.clone().into();
                    } else {
                        item["ReportName"] = name.clone().into();
                        item["ReportType"] = "PowerBIReport".into();
                    }
                    (activity, item)
                }
                (60..=64, _) | (0..=59, true) | (75..=79, true) => {
                    let member = &users[rng.gen_range(2..params.users)];
                    let activity = ["AddGroupMembers", "UpdateWorkspaceAccess", "DeleteGroupMembers"][rng.gen_range(0..3)];
                    (activity, serde_json::json!({ "MembershipInformation": [{ "MemberEmail": member.upn }] }))
                }
                (65..=69, _) => ("GetGroupsAsAdmin", serde_json::json!({})),
                _ => ("ViewDataflow", serde_json::json!({})),
            };
            item["WorkSpaceName"] = w.name.clone().into();
            item["ClientIP"] = format!("10.{}.{}.{}", rng.gen_range(0..255), rng.gen_range(0..255), rng.gen_range(1..255)).into();
            item["UserAgent"] =
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36".into();
            item["RequestId"] = uuid(&mut rng).to_string().into();
            item["ActivityId"] = uuid(&mut rng).to_string().into();
            if let Some(c) = w.capacity {
                item["CapacityId"] = c.to_string().into();
            }
            if w.personal {
                item["WorkspaceType"] = "PersonalGroup".into();
            }
            events.push(ActivityEvent {
                id: uuid(&mut rng),
                creation_time: at,
                activity: activity.into(),
                operation: activity.into(),
                user_id: u.upn.clone(),
                user_key: u.id.to_string(),
                workspace_id: Some(w.id),
                item,
            });
        }
        if events.len() >= FLUSH_ROWS / 2 {
            counts.activity_events += events.len();
            bulk::insert_activity_events(&mut *conn, tenant.id, &std::mem::take(&mut events)).await?;
        }
    }
    counts.activity_events += events.len();
    bulk::insert_activity_events(&mut *conn, tenant.id, &events).await?;
    tx.commit().await?;
    store.refresh_statistics().await?;
    Ok(SeededTenant {
        tenant_id: tenant.id,
        domain,
        admin_upn: users[0].upn.clone(),
        password,
        client_id,
        client_secret,
        heavy_upn: users[1].upn.clone(),
        heavy_id: users[1].id,
        counts,
        elapsed: started.elapsed(),
    })
}
