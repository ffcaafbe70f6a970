//! Tenant provisioning from a declarative spec: one validated, atomic write of a whole tenant
//! (directory, service principals and their secrets, workspaces and roles). The demo tenant and
//! the test fixtures are made through this same path.

use std::collections::HashMap;

use rand::distributions::{Alphanumeric, DistString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::certificates::read_certificate;
use crate::auth::credentials::{hash_password, hash_secret, new_client_secret};
use crate::clock::Clock;
use crate::domain::identity::{sku_by_part_number, POWER_BI_SKUS};
use crate::domain::rights;
use crate::domain::shared_items::{Datasource, DatasourceRight, Gateway, GatewayRight, ItemUser, Pipeline, PipelineRight};
use crate::domain::signin::{AppRegistration, ClientType};
use crate::domain::{
    Artifact, ArtifactKind, Capacity, CapacityRight, ClientCertificate, ClientSecret, DirectoryGroup, DirectoryRole, GroupKind,
    PrincipalKind, PrincipalRef, Role, ServicePrincipal, Subscription, Tenant, TenantSettings, UserType, Workspace,
};
use crate::store::{self, DemoCredentials, NewUser, Store, StoreError};

/// A spec names the domain's enums by the words the API uses (`as_str`), and reads them back
/// through `FromStr`, so a bad word is refused with the enum's own message.
macro_rules! serde_by_name {
    ($($t:ty),*) => {$(
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
            }
        }
    )*};
}
serde_by_name!(PrincipalKind, Role, CapacityRight, ArtifactKind);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantSpec {
    #[serde(default)]
    pub id: Option<Uuid>,
    pub name: String,
    /// Initial domain, e.g. `contoso.onmicrosoft.com`.
    pub domain: String,
    #[serde(default)]
    pub users: Vec<UserSpec>,
    #[serde(default)]
    pub groups: Vec<GroupSpec>,
    #[serde(default)]
    pub service_principals: Vec<ServicePrincipalSpec>,
    #[serde(default)]
    pub workspaces: Vec<WorkspaceSpec>,
    #[serde(default)]
    pub settings: SettingsSpec,
    /// Plain-text SCIM provisioning secret (the bearer token of `/{tenant}/scim/v2/`); hashed
    /// before it is stored. Without one, SCIM is closed for the tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scim_secret: Option<String>,
    /// The stored hash of the SCIM secret, as `tenant export` writes it (instead of `scimSecret`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scim_secret_hash: Option<String>,
    /// License products the tenant has bought, with their seats.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscribed_skus: Vec<SkuSpec>,
    /// License assignments: to a user (by UPN) directly, or to a group (by display name) for
    /// group-based licensing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub licenses: Vec<LicenseSpec>,
    /// Capacities workspaces can run on, with the principals holding rights on them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capacities: Vec<CapacitySpec>,
    /// Deployment pipelines, with their Admins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pipelines: Vec<PipelineSpec>,
    /// On-premises data gateways, with their users and data sources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<GatewaySpec>,
}

/// A deployment pipeline. `users` hold `Admin`, the one `PipelineUserAccessRight`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PipelineSpec {
    #[serde(default)]
    pub id: Option<Uuid>,
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub users: Vec<RightSpec>,
}

/// An on-premises data gateway. `users` hold `Admin`, `ConnectionCreator` or
/// `ConnectionCreatorWithReshare`; a gateway Admin manages its data sources' users.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewaySpec {
    #[serde(default)]
    pub id: Option<Uuid>,
    pub name: String,
    #[serde(default)]
    pub users: Vec<RightSpec>,
    #[serde(default)]
    pub datasources: Vec<DatasourceSpec>,
}

/// A data source of a gateway. `users` hold `Read` or `ReadOverrideEffectiveIdentity`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DatasourceSpec {
    #[serde(default)]
    pub id: Option<Uuid>,
    pub name: String,
    /// `Sql`, `AnalysisServices`, `Web`, …
    pub datasource_type: String,
    #[serde(default)]
    pub users: Vec<RightSpec>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SkuSpec {
    /// `POWER_BI_STANDARD`, `POWER_BI_PRO` or `PBI_PREMIUM_PER_USER`.
    pub sku_part_number: String,
    pub seats: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LicenseSpec {
    pub principal: String,
    #[serde(default = "user_kind")]
    pub principal_type: PrincipalKind,
    pub sku_part_number: String,
}

/// The developer tenant settings that gate service principals; groups by display name.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SettingsSpec {
    #[serde(default = "yes")]
    pub service_principals_can_use_apis: bool,
    #[serde(default)]
    pub service_principals_api_group: Option<String>,
    #[serde(default = "yes")]
    pub service_principals_can_use_admin_apis: bool,
    #[serde(default)]
    pub service_principals_admin_api_group: Option<String>,
}

impl Default for SettingsSpec {
    fn default() -> Self {
        SettingsSpec {
            service_principals_can_use_apis: true,
            service_principals_api_group: None,
            service_principals_can_use_admin_apis: true,
            service_principals_admin_api_group: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserSpec {
    #[serde(default)]
    pub id: Option<Uuid>,
    pub upn: String,
    #[serde(default)]
    pub mail: Option<String>,
    pub display_name: String,
    #[serde(default)]
    pub guest: bool,
    #[serde(default = "yes")]
    pub account_enabled: bool,
    /// Plain-text password for the password grant; hashed before it is stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// An Argon2 hash, as `tenant export` writes it (instead of `password`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    #[serde(default)]
    pub fabric_admin: bool,
}

impl Default for UserSpec {
    fn default() -> Self {
        UserSpec {
            id: None,
            upn: String::new(),
            mail: None,
            display_name: String::new(),
            guest: false,
            account_enabled: true,
            password: None,
            password_hash: None,
            fabric_admin: false,
        }
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupSpec {
    #[serde(default)]
    pub id: Option<Uuid>,
    pub display_name: String,
    #[serde(default)]
    pub microsoft365: bool,
    /// Members: users by UPN, groups (nesting) and apps by display name.
    #[serde(default)]
    pub members: Vec<GroupMemberSpec>,
    /// Owners, by UPN (they are the Admins of a workspace this group backs).
    #[serde(default)]
    pub owners: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupMemberSpec {
    pub principal: String,
    #[serde(default = "user_kind")]
    pub principal_type: PrincipalKind,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServicePrincipalSpec {
    #[serde(default)]
    pub id: Option<Uuid>,
    #[serde(default)]
    pub app_id: Option<Uuid>,
    pub display_name: String,
    /// Plain-text client secrets, hashed before they are stored.
    #[serde(default)]
    pub secrets: Vec<SecretSpec>,
    /// Certificate credentials: public certificates only (a client signs its assertions with
    /// the private key, which pbi-access never sees).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<CertificateSpec>,
    /// Where `/authorize` may send the person back with a code (the application's reply URLs).
    /// Exact match, except that a loopback URI's port is free (`http://localhost` allows
    /// `http://localhost:51234`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirect_uris: Vec<String>,
    /// `confidential` (default: a web app that authenticates to redeem a code) or `public`
    /// (desktop and command-line clients: no secret, PKCE required).
    #[serde(default, skip_serializing_if = "is_confidential")]
    pub client_type: ClientType,
    /// The permissions consented for the application (`…/powerbi/api/Workspace.Read.All`,
    /// `User.Read`); empty: all of them, as if an administrator had consented to everything.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<String>,
    /// Application permissions granted with an administrator's consent (Power BI's
    /// `Tenant.Read.All`, `Tenant.ReadWrite.All`): client-credentials tokens carry them in
    /// `roles`, and an application holding one is refused by the read-only admin APIs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub app_roles: Vec<String>,
}

fn is_confidential(t: &ClientType) -> bool {
    *t == ClientType::Confidential
}

impl ServicePrincipalSpec {
    fn registration(&self) -> Result<AppRegistration, String> {
        for uri in &self.redirect_uris {
            let ok = uri.len() <= 256
                && (uri.starts_with("https://") || uri.starts_with("http://localhost") || uri.starts_with("http://127.0.0.1"))
                && !uri.contains('#');
            if !ok {
                return Err(format!(
                    "redirect URI '{uri}' of '{}' must be https (or http on localhost), at most 256 characters, without a fragment",
                    self.display_name
                ));
            }
        }
        let mut app_roles = Vec::new();
        for granted in &self.app_roles {
            let role = crate::domain::signin::powerbi_app_role(granted).ok_or_else(|| {
                format!(
                    "application permission '{granted}' of '{}' is not one of Power BI's: {}",
                    self.display_name,
                    crate::domain::signin::POWERBI_APP_ROLES.join(", ")
                )
            })?;
            if !app_roles.contains(&role.to_string()) {
                app_roles.push(role.to_string());
            }
        }
        Ok(AppRegistration {
            redirect_uris: self.redirect_uris.clone(),
            client_type: self.client_type,
            permissions: self.permissions.clone(),
            app_roles,
        })
    }
}

/// A certificate credential: the public certificate as PEM or base64 DER. `tenant export`
/// writes the thumbprints and validity too; given on import, they must match the certificate.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CertificateSpec {
    pub pem: String,
    /// Upper-case hex SHA-1 thumbprint (what the portal shows; `x5t` of an assertion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbprint: Option<String>,
    /// Upper-case hex SHA-256 thumbprint (`x5t#S256`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbprint_sha256: Option<String>,
    /// The certificate's notBefore and notAfter, Unix milliseconds (read from the certificate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

impl CertificateSpec {
    /// Read the certificate and check what the spec says about it.
    fn read(&self, owner: &str) -> Result<ClientCertificate, String> {
        let cert = read_certificate(&self.pem).map_err(|e| format!("a certificate of '{owner}': {e}"))?;
        let differs = |given: &Option<String>, actual: &str| given.as_deref().is_some_and(|g| !g.eq_ignore_ascii_case(actual));
        if differs(&self.thumbprint, &cert.thumbprint_sha1) || differs(&self.thumbprint_sha256, &cert.thumbprint_sha256) {
            return Err(format!(
                "a certificate of '{owner}': the thumbprint given does not match the certificate ({})",
                cert.thumbprint_sha1
            ));
        }
        if self.starts_at.is_some_and(|t| t != cert.starts_at) || self.expires_at.is_some_and(|t| t != cert.expires_at) {
            return Err(format!("a certificate of '{owner}': the dates given are not the certificate's validity"));
        }
        Ok(cert)
    }

    fn of(cert: &ClientCertificate) -> CertificateSpec {
        CertificateSpec {
            pem: cert.certificate_pem.clone(),
            thumbprint: Some(cert.thumbprint_sha1.clone()),
            thumbprint_sha256: Some(cert.thumbprint_sha256.clone()),
            starts_at: Some(cert.starts_at),
            expires_at: Some(cert.expires_at),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretSpec {
    /// The secret in plain text; hashed before it is stored.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    /// A stored hash, as `tenant export` writes it (instead of `value`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// Unix milliseconds; default two years after provisioning.
    #[serde(default)]
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkspaceSpec {
    #[serde(default)]
    pub id: Option<Uuid>,
    pub name: String,
    /// A Microsoft 365 group (by display name) backing the workspace.
    #[serde(default)]
    pub backed_by: Option<String>,
    #[serde(default)]
    pub members: Vec<MemberSpec>,
    /// The capacity the workspace is assigned to, by display name or id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<String>,
    /// Datasets, reports, dashboards, dataflows, workbooks and apps in the workspace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<ArtifactSpec>,
    /// A person's "My workspace" (type `PersonalGroup`): its owner is its one Admin member, and
    /// `GET /datasets|reports|dashboards` list its items.
    #[serde(default, skip_serializing_if = "is_false")]
    pub personal: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CapacitySpec {
    #[serde(default)]
    pub id: Option<Uuid>,
    pub display_name: String,
    /// For example `P1`, `A1` or `F64`.
    pub sku: String,
    pub region: String,
    /// `CapacityState`; `Active` when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Capacity admins (`Admin`) and contributors (`Assign`).
    #[serde(default)]
    pub users: Vec<RightSpec<CapacityRight>>,
}

/// An item in a workspace. `kind` is one of Dataset, Report, PaginatedReport, Dashboard,
/// Dataflow, Workbook, App.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArtifactSpec {
    #[serde(default)]
    pub id: Option<Uuid>,
    pub kind: ArtifactKind,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// For a report: its dataset, by name in the same workspace or by id in any workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    /// The owner's UPN (`configuredBy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configured_by: Option<String>,
    /// Direct permissions, each in the kind's own access-right enum (`DatasetUserAccessRight`,
    /// `ReportUserAccessRight`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<RightSpec>,
    /// Email subscriptions (reports and dashboards).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscriptions: Vec<SubscriptionSpec>,
}

/// A dataset with nothing but a name; `..Default::default()` fills in the rest of a spec.
impl Default for ArtifactSpec {
    fn default() -> Self {
        ArtifactSpec {
            id: None,
            kind: ArtifactKind::Dataset,
            name: String::new(),
            description: None,
            dataset: None,
            configured_by: None,
            permissions: Vec::new(),
            subscriptions: Vec::new(),
        }
    }
}

/// A principal's right on a capacity (a `CapacityRight`) or an artifact. `principal` names a
/// user by UPN, a group or service principal by display name, or any of them by object id. An
/// artifact's right stays a word: which words are rights depends on the artifact's kind
/// (`DatasetUserAccessRight`, `ReportUserAccessRight`, …), checked when the spec is provisioned.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RightSpec<R = String> {
    pub principal: String,
    #[serde(default = "user_kind")]
    pub principal_type: PrincipalKind,
    pub access_right: R,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubscriptionSpec {
    #[serde(default)]
    pub id: Option<Uuid>,
    /// The subscriber, by UPN or object id.
    pub owner: String,
    pub title: String,
    /// `Daily` when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency: Option<String>,
    #[serde(default = "yes")]
    pub is_enabled: bool,
    /// Unix milliseconds; default the provisioning time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<i64>,
    /// Unix milliseconds; default a year after the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<i64>,
    /// `PNG` when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment_format: Option<String>,
    /// The report page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_artifact_name: Option<String>,
}

/// A role in a workspace. `principal` names a user by UPN, a group by display name and a
/// service principal by display name (or any of them by object id).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MemberSpec {
    pub principal: String,
    #[serde(default = "user_kind")]
    pub principal_type: PrincipalKind,
    pub role: Role,
}

fn user_kind() -> PrincipalKind {
    PrincipalKind::User
}

/// Ids of what was provisioned, by the names the spec used.
#[derive(Debug, Clone)]
pub struct ProvisionedTenant {
    pub tenant: Tenant,
    pub users: HashMap<String, Uuid>,
    pub groups: HashMap<String, Uuid>,
    /// Display name → (object id, app id).
    pub service_principals: HashMap<String, (Uuid, Uuid)>,
    pub workspaces: HashMap<String, Uuid>,
    pub capacities: HashMap<String, Uuid>,
    /// (workspace name, kind, artifact name) → artifact id.
    pub artifacts: HashMap<(String, String, String), Uuid>,
    /// Display name → pipeline id.
    pub pipelines: HashMap<String, Uuid>,
    /// Name → gateway id.
    pub gateways: HashMap<String, Uuid>,
    /// (gateway name, data source name) → data source id.
    pub datasources: HashMap<(String, String), Uuid>,
}

impl ProvisionedTenant {
    /// The id of the artifact of `kind` (`Dataset`, `Report`, …) called `name` in `workspace`.
    pub fn artifact(&self, workspace: &str, kind: &str, name: &str) -> Uuid {
        self.artifacts[&(workspace.to_string(), kind.to_string(), name.to_string())]
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("invalid tenant spec: {0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ProvisionError {
    fn from(e: sqlx::Error) -> Self {
        ProvisionError::Store(e.into())
    }
}

/// Validate and write a whole tenant in one transaction: all of it lands, or none.
pub async fn provision(store: &Store, clock: &dyn Clock, spec: &TenantSpec) -> Result<ProvisionedTenant, ProvisionError> {
    for key in spec.id.map(|id| id.to_string()).into_iter().chain([spec.domain.clone()]) {
        if store.find_tenant(&key).await?.is_some() {
            return Err(ProvisionError::Invalid(format!("a tenant '{key}' exists already")));
        }
    }
    let mut tx = store.bulk_write().await?;
    let out = provision_in(&mut tx, clock, spec).await?;
    tx.commit().await?;
    Ok(out)
}

async fn provision_in(tx: &mut store::WriteTx<'_>, clock: &dyn Clock, spec: &TenantSpec) -> Result<ProvisionedTenant, ProvisionError> {
    let invalid = |m: String| ProvisionError::Invalid(m);
    if spec.name.trim().is_empty() || spec.domain.trim().is_empty() {
        return Err(invalid("a tenant needs a name and a domain".into()));
    }
    let now = clock.now_millis();
    let tenant = Tenant { id: spec.id.unwrap_or_else(Uuid::new_v4), name: spec.name.clone(), domain: spec.domain.clone() };
    let mut out = ProvisionedTenant {
        tenant: tenant.clone(),
        users: HashMap::new(),
        groups: HashMap::new(),
        service_principals: HashMap::new(),
        workspaces: HashMap::new(),
        capacities: HashMap::new(),
        artifacts: HashMap::new(),
        pipelines: HashMap::new(),
        gateways: HashMap::new(),
        datasources: HashMap::new(),
    };

    // Hash outside the transaction: Argon2 is deliberately slow.
    let hashed: Vec<Option<String>> =
        spec.users.iter().map(|u| u.password.as_deref().map(hash_password).or_else(|| u.password_hash.clone())).collect();

    store::insert_tenant(&mut **tx, &tenant, now).await?;
    tx.set_tenant(tenant.id);
    if let Some(secret) = spec.scim_secret.as_deref() {
        if secret.len() < 16 {
            return Err(invalid("the SCIM secret must have at least 16 characters".into()));
        }
        store::update_scim_secret_hash(&mut **tx, tenant.id, Some(&hash_secret(secret))).await?;
    } else if let Some(hash) = spec.scim_secret_hash.as_deref() {
        store::update_scim_secret_hash(&mut **tx, tenant.id, Some(hash)).await?;
    }
    let by_name = provision_principals(tx, tenant.id, spec, &hashed, now, &mut out).await?;
    let lookup = |kind: PrincipalKind, name: &str| -> Result<Uuid, ProvisionError> {
        Uuid::parse_str(name)
            .ok()
            .or_else(|| by_name.get(&(kind, name.to_lowercase())).copied())
            .ok_or_else(|| ProvisionError::Invalid(format!("unknown {} '{name}'", kind.as_str())))
    };
    provision_memberships_and_settings(tx, tenant.id, spec, &lookup, now, &out).await?;
    provision_licences(tx, tenant.id, spec, &lookup, now).await?;
    let capacity_ids = provision_capacities(tx, tenant.id, spec, &lookup, now, &mut out).await?;
    let workspace_ids = provision_workspaces(tx, tenant.id, spec, &lookup, &capacity_ids, now, &mut out).await?;
    provision_artifacts(tx, tenant.id, spec, &workspace_ids, &lookup, now, &mut out.artifacts).await?;
    provision_shared_items(tx, tenant.id, spec, &lookup, now, &mut out).await?;
    Ok(out)
}

type Lookup<'a> = &'a (dyn Fn(PrincipalKind, &str) -> Result<Uuid, ProvisionError> + Sync);

/// The spec's users (with their passwords hashed beforehand, in `hashed`), groups and service
/// principals with their credentials; each principal by kind and lower-case name (UPN or
/// display name).
async fn provision_principals(
    tx: &mut store::WriteTx<'_>,
    tenant: Uuid,
    spec: &TenantSpec,
    hashed: &[Option<String>],
    now: i64,
    out: &mut ProvisionedTenant,
) -> Result<HashMap<(PrincipalKind, String), Uuid>, ProvisionError> {
    let invalid = |m: String| ProvisionError::Invalid(m);
    let mut by_name: HashMap<(PrincipalKind, String), Uuid> = HashMap::new();
    for (user, hash) in spec.users.iter().zip(hashed) {
        let id = user.id.unwrap_or_else(Uuid::new_v4);
        if user.upn.trim().is_empty() || !user.upn.contains('@') {
            return Err(invalid(format!("user '{}' needs a UPN of the form name@domain", user.display_name)));
        }
        if out.users.insert(user.upn.to_lowercase(), id).is_some() {
            return Err(invalid(format!("UPN '{}' appears twice", user.upn)));
        }
        let new = NewUser {
            id,
            upn: &user.upn,
            mail: user.mail.as_deref(),
            display_name: &user.display_name,
            user_type: if user.guest { UserType::Guest } else { UserType::Member },
            account_enabled: user.account_enabled,
            password_hash: hash.as_deref(),
        };
        store::insert_user(&mut **tx, tenant, &new, now).await?;
        if user.fabric_admin {
            store::insert_role_member(&mut **tx, tenant, DirectoryRole::FabricAdministrator, id).await?;
        }
        by_name.insert((PrincipalKind::User, user.upn.to_lowercase()), id);
    }
    for group in &spec.groups {
        let g = DirectoryGroup {
            id: group.id.unwrap_or_else(Uuid::new_v4),
            display_name: group.display_name.clone(),
            kind: if group.microsoft365 { GroupKind::Microsoft365 } else { GroupKind::Security },
        };
        store::insert_group(&mut **tx, tenant, &g, now).await?;
        out.groups.insert(group.display_name.clone(), g.id);
        by_name.insert((PrincipalKind::Group, group.display_name.to_lowercase()), g.id);
    }
    for sp in &spec.service_principals {
        let s = ServicePrincipal {
            id: sp.id.unwrap_or_else(Uuid::new_v4),
            app_id: sp.app_id.unwrap_or_else(Uuid::new_v4),
            display_name: sp.display_name.clone(),
        };
        store::insert_service_principal(&mut **tx, tenant, &s, now).await?;
        for (i, secret) in sp.secrets.iter().enumerate() {
            let row = ClientSecret {
                id: Uuid::new_v4(),
                secret_hash: match &secret.hash {
                    Some(hash) if secret.value.is_empty() => hash.clone(),
                    _ if secret.value.is_empty() => {
                        return Err(invalid(format!("a secret of '{}' has neither a value nor a hash", sp.display_name)))
                    }
                    _ => hash_secret(&secret.value),
                },
                expires_at: secret.expires_at.unwrap_or(now + 2 * 365 * 24 * 3600 * 1000),
            };
            let hint: String = secret.value.chars().take(3).collect();
            // Keep the spec's order as the secrets' order (export lists them by creation).
            store::insert_client_secret(&mut **tx, tenant, s.id, &row, &hint, now + i as i64).await?;
        }
        for (i, spec) in sp.certificates.iter().enumerate() {
            let cert = spec.read(&sp.display_name).map_err(invalid)?;
            store::insert_client_certificate(&mut **tx, tenant, s.id, &cert, now + i as i64).await?;
        }
        let registration = sp.registration().map_err(invalid)?;
        if registration != AppRegistration::default() {
            store::set_app_registration(&mut **tx, tenant, s.id, &registration).await?;
        }
        out.service_principals.insert(sp.display_name.clone(), (s.id, s.app_id));
        by_name.insert((PrincipalKind::App, sp.display_name.to_lowercase()), s.id);
    }
    Ok(by_name)
}

/// Group members and owners, then the tenant settings that name groups.
async fn provision_memberships_and_settings(
    tx: &mut store::WriteTx<'_>,
    tenant: Uuid,
    spec: &TenantSpec,
    lookup: Lookup<'_>,
    now: i64,
    out: &ProvisionedTenant,
) -> Result<(), ProvisionError> {
    let invalid = |m: String| ProvisionError::Invalid(m);
    for group in &spec.groups {
        let group_id = out.groups[&group.display_name];
        for m in &group.members {
            let kind = m.principal_type;
            let id = lookup(kind, &m.principal)?;
            if id == group_id {
                return Err(invalid(format!("group '{}' cannot contain itself", group.display_name)));
            }
            store::insert_group_member(&mut **tx, tenant, group_id, PrincipalRef { kind, object_id: id }, now).await?;
        }
        for owner in &group.owners {
            store::insert_group_owner(&mut **tx, tenant, group_id, lookup(PrincipalKind::User, owner)?, now).await?;
        }
    }
    let group_setting = |name: &Option<String>| name.as_deref().map(|n| lookup(PrincipalKind::Group, n)).transpose();
    let settings = TenantSettings {
        sp_api_enabled: spec.settings.service_principals_can_use_apis,
        sp_api_group: group_setting(&spec.settings.service_principals_api_group)?,
        sp_admin_api_enabled: spec.settings.service_principals_can_use_admin_apis,
        sp_admin_api_group: group_setting(&spec.settings.service_principals_admin_api_group)?,
    };
    store::update_tenant_settings(&mut **tx, tenant, &settings).await?;
    Ok(())
}

/// Subscribed SKUs, then licences: direct ones take seats, group-based ones are allocated when read.
async fn provision_licences(
    tx: &mut store::WriteTx<'_>,
    tenant: Uuid,
    spec: &TenantSpec,
    lookup: Lookup<'_>,
    now: i64,
) -> Result<(), ProvisionError> {
    let invalid = |m: String| ProvisionError::Invalid(m);
    let mut seats: HashMap<String, (Uuid, i64)> = HashMap::new();
    for sku in &spec.subscribed_skus {
        let info = sku_by_part_number(&sku.sku_part_number).ok_or_else(|| invalid(format!("unknown SKU '{}'", sku.sku_part_number)))?;
        if sku.seats < 0 {
            return Err(invalid(format!("SKU '{}' cannot have negative seats", sku.sku_part_number)));
        }
        store::insert_subscribed_sku(&mut **tx, tenant, info.sku_id, info.part_number, sku.seats).await?;
        seats.insert(info.part_number.to_string(), (info.sku_id, sku.seats));
    }
    for license in &spec.licenses {
        let info =
            sku_by_part_number(&license.sku_part_number).ok_or_else(|| invalid(format!("unknown SKU '{}'", license.sku_part_number)))?;
        let (sku_id, left) =
            seats.get_mut(info.part_number).ok_or_else(|| invalid(format!("SKU '{}' is not subscribed", info.part_number)))?;
        let kind = license.principal_type;
        let id = lookup(kind, &license.principal)?;
        match kind {
            PrincipalKind::User => {
                // Direct assignments take seats; group-based ones are allocated when read.
                if *left <= 0 {
                    return Err(invalid(format!("no seat of '{}' left for '{}'", info.part_number, license.principal)));
                }
                *left -= 1;
                store::insert_user_license(&mut **tx, tenant, id, *sku_id, now).await?;
            }
            PrincipalKind::Group => store::insert_group_license(&mut **tx, tenant, id, *sku_id, now).await?,
            PrincipalKind::App => return Err(invalid(format!("applications hold no licenses ('{}')", license.principal))),
        }
    }
    Ok(())
}

/// Capacities (before the workspaces that run on them) and their users; each by lower-case
/// name and by id.
async fn provision_capacities(
    tx: &mut store::WriteTx<'_>,
    tenant: Uuid,
    spec: &TenantSpec,
    lookup: Lookup<'_>,
    now: i64,
    out: &mut ProvisionedTenant,
) -> Result<HashMap<String, Uuid>, ProvisionError> {
    let invalid = |m: String| ProvisionError::Invalid(m);
    let mut capacity_ids: HashMap<String, Uuid> = HashMap::new();
    for c in &spec.capacities {
        if c.display_name.trim().is_empty() || c.sku.trim().is_empty() || c.region.trim().is_empty() {
            return Err(invalid("a capacity needs a displayName, a sku and a region".into()));
        }
        let capacity = Capacity {
            id: c.id.unwrap_or_else(Uuid::new_v4),
            tenant_id: tenant,
            display_name: c.display_name.clone(),
            sku: c.sku.clone(),
            region: c.region.clone(),
            state: c.state.clone().unwrap_or_else(|| "Active".into()),
        };
        store::insert_capacity(&mut **tx, &capacity, now).await?;
        for u in &c.users {
            let kind = u.principal_type;
            let principal = PrincipalRef { kind, object_id: lookup(kind, &u.principal)? };
            store::insert_capacity_user(&mut **tx, capacity.id, principal, u.access_right).await?;
        }
        capacity_ids.insert(capacity.display_name.to_lowercase(), capacity.id);
        capacity_ids.insert(capacity.id.to_string(), capacity.id);
        out.capacities.insert(capacity.display_name.clone(), capacity.id);
    }
    Ok(capacity_ids)
}

/// Workspaces with their backing group and members, in the spec's order (the members' order too).
async fn provision_workspaces(
    tx: &mut store::WriteTx<'_>,
    tenant: Uuid,
    spec: &TenantSpec,
    lookup: Lookup<'_>,
    capacity_ids: &HashMap<String, Uuid>,
    now: i64,
    out: &mut ProvisionedTenant,
) -> Result<Vec<Uuid>, ProvisionError> {
    let invalid = |m: String| ProvisionError::Invalid(m);
    let mut workspace_ids = Vec::with_capacity(spec.workspaces.len());
    for ws in &spec.workspaces {
        let backing = ws.backed_by.as_deref().map(|g| lookup(PrincipalKind::Group, g)).transpose()?;
        let w = Workspace {
            id: ws.id.unwrap_or_else(Uuid::new_v4),
            tenant_id: tenant,
            name: ws.name.clone(),
            description: None,
            kind: if ws.personal { "PersonalGroup" } else { "Workspace" }.into(),
            state: "Active".into(),
            is_read_only: false,
            capacity_id: match ws.capacity.as_deref() {
                None => None,
                Some(c) => Some(capacity_ids.get(&c.to_lowercase()).copied().ok_or_else(|| {
                    invalid(format!(
                        "workspace '{}' names unknown capacity '{c}': capacities are declared in the spec's capacities",
                        ws.name
                    ))
                })?),
            },
        };
        store::insert_workspace(&mut **tx, &w, now).await?;
        if let Some(group) = backing {
            store::insert_backing_group(&mut **tx, w.id, group).await?;
        }
        for (i, m) in ws.members.iter().enumerate() {
            let (kind, role) = (m.principal_type, m.role);
            let id = lookup(kind, &m.principal)
                .map_err(|_| invalid(format!("workspace '{}' names unknown {} '{}'", ws.name, kind.as_str(), m.principal)))?;
            // Keep the spec's order as the members' order.
            store::insert_member(&mut **tx, w.id, PrincipalRef { kind, object_id: id }, None, role, now + i as i64).await?;
        }
        out.workspaces.insert(ws.name.clone(), w.id);
        workspace_ids.push(w.id);
    }
    Ok(workspace_ids)
}

/// The spec's deployment pipelines and gateways with their data sources, and their users.
async fn provision_shared_items(
    tx: &mut store::WriteTx<'_>,
    tenant: Uuid,
    spec: &TenantSpec,
    lookup: &(dyn Fn(PrincipalKind, &str) -> Result<Uuid, ProvisionError> + Sync),
    now: i64,
    out: &mut ProvisionedTenant,
) -> Result<(), ProvisionError> {
    let invalid = |m: String| ProvisionError::Invalid(m);
    let principal_of = |u: &RightSpec| -> Result<PrincipalRef, ProvisionError> {
        let kind = u.principal_type;
        Ok(PrincipalRef { kind, object_id: lookup(kind, &u.principal)? })
    };
    fn twice<'a>(what: &'a str, name: &'a str) -> impl FnOnce(StoreError) -> ProvisionError + 'a {
        move |e: StoreError| {
            if e.is_unique_violation() {
                ProvisionError::Invalid(format!("{what} '{name}' is named twice"))
            } else {
                e.into()
            }
        }
    }
    for (i, p) in spec.pipelines.iter().enumerate() {
        if p.display_name.trim().is_empty() {
            return Err(invalid("a pipeline needs a displayName".into()));
        }
        let pipeline = Pipeline {
            id: p.id.unwrap_or_else(Uuid::new_v4),
            tenant_id: tenant,
            display_name: p.display_name.clone(),
            description: p.description.clone(),
        };
        store::insert_pipeline(&mut **tx, &pipeline, now + i as i64).await.map_err(twice("pipeline", &p.display_name))?;
        for (j, u) in p.users.iter().enumerate() {
            let right: PipelineRight = u.access_right.parse().map_err(invalid)?;
            store::insert_pipeline_user(&mut **tx, pipeline.id, principal_of(u)?, right, now + j as i64)
                .await
                .map_err(twice("pipeline user", &u.principal))?;
        }
        out.pipelines.insert(p.display_name.clone(), pipeline.id);
    }
    for (i, g) in spec.gateways.iter().enumerate() {
        if g.name.trim().is_empty() {
            return Err(invalid("a gateway needs a name".into()));
        }
        let gateway = Gateway { id: g.id.unwrap_or_else(Uuid::new_v4), tenant_id: tenant, name: g.name.clone() };
        store::insert_gateway(&mut **tx, &gateway, now + i as i64).await.map_err(twice("gateway", &g.name))?;
        for u in &g.users {
            let right: GatewayRight = u.access_right.parse().map_err(invalid)?;
            store::insert_gateway_user(&mut **tx, gateway.id, principal_of(u)?, right)
                .await
                .map_err(twice("gateway user", &u.principal))?;
        }
        for (j, d) in g.datasources.iter().enumerate() {
            if d.name.trim().is_empty() || d.datasource_type.trim().is_empty() {
                return Err(invalid(format!("a data source of gateway '{}' needs a name and a datasourceType", g.name)));
            }
            let ds = Datasource {
                id: d.id.unwrap_or_else(Uuid::new_v4),
                gateway_id: gateway.id,
                name: d.name.clone(),
                datasource_type: d.datasource_type.clone(),
            };
            store::insert_datasource(&mut **tx, tenant, &ds, now + j as i64).await.map_err(twice("data source", &d.name))?;
            for (k, u) in d.users.iter().enumerate() {
                let right: DatasourceRight = u.access_right.parse().map_err(invalid)?;
                store::insert_datasource_user(&mut **tx, ds.id, principal_of(u)?, None, right, now + k as i64)
                    .await
                    .map_err(twice("data source user", &u.principal))?;
            }
            out.datasources.insert((g.name.clone(), d.name.clone()), ds.id);
        }
        out.gateways.insert(g.name.clone(), gateway.id);
    }
    Ok(())
}

/// The demo tenant's SCIM provisioning secret, derived from its client secret so the banner can
/// print it on every start without storing another plain-text secret.
pub fn demo_scim_secret(client_secret: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("pbi-access demo scim {client_secret}").as_bytes());
    format!("scim-{}", digest.iter().take(16).map(|b| format!("{b:02x}")).collect::<String>())
}

/// The artifacts of every workspace of the spec, with their permissions and subscriptions.
async fn provision_artifacts(
    tx: &mut store::WriteTx<'_>,
    tenant: Uuid,
    spec: &TenantSpec,
    workspace_ids: &[Uuid],
    lookup: &(dyn Fn(PrincipalKind, &str) -> Result<Uuid, ProvisionError> + Sync),
    now: i64,
    provisioned: &mut HashMap<(String, String, String), Uuid>,
) -> Result<(), ProvisionError> {
    let invalid = |m: String| ProvisionError::Invalid(m);
    // Ids first, so that a report can name a dataset of any workspace by id.
    let mut planned: Vec<(usize, &ArtifactSpec, ArtifactKind, Uuid)> = Vec::new();
    for (i, ws) in spec.workspaces.iter().enumerate() {
        for a in &ws.artifacts {
            let kind = a.kind;
            if a.name.trim().is_empty() {
                return Err(invalid(format!("an artifact of workspace '{}' has no name", ws.name)));
            }
            planned.push((i, a, kind, a.id.unwrap_or_else(Uuid::new_v4)));
        }
    }
    let dataset_of = |ws: usize, report: &ArtifactSpec, name: &str| -> Result<Uuid, ProvisionError> {
        let found = match Uuid::parse_str(name) {
            Ok(id) => planned.iter().find(|(_, _, k, pid)| *k == ArtifactKind::Dataset && *pid == id),
            Err(_) => planned.iter().find(|(w, a, k, _)| *w == ws && *k == ArtifactKind::Dataset && a.name.eq_ignore_ascii_case(name)),
        };
        found
            .map(|(_, _, _, id)| *id)
            .ok_or_else(|| ProvisionError::Invalid(format!("report '{}' names unknown dataset '{name}'", report.name)))
    };
    let mut seq = 0i64;
    for (ws, a, kind, id) in &planned {
        let dataset_id = match (kind, a.dataset.as_deref()) {
            (_, None) => None,
            (ArtifactKind::Report, Some(name)) => Some(dataset_of(*ws, a, name)?),
            (other, Some(_)) => return Err(invalid(format!("{other} '{}' cannot name a dataset: only reports are bound to one", a.name))),
        };
        seq += 1;
        let artifact = Artifact {
            id: *id,
            tenant_id: tenant,
            workspace_id: workspace_ids[*ws],
            kind: *kind,
            name: a.name.clone(),
            description: a.description.clone(),
            dataset_id,
            configured_by: a.configured_by.as_deref().map(str::trim).filter(|o| !o.is_empty()).map(str::to_string),
            created_at: now + seq,
        };
        store::insert_artifact(&mut **tx, &artifact).await?;
        for p in &a.permissions {
            if !kind.has_permissions() {
                return Err(invalid(format!("{kind} '{}' cannot carry permissions", a.name)));
            }
            let principal_kind = p.principal_type;
            let right =
                rights::parse(*kind, &p.access_right).filter(|r| !r.is_empty()).and_then(|r| rights::name(*kind, r)).ok_or_else(|| {
                    invalid(format!("'{}' is not a {kind} access right that can be granted (on '{}')", p.access_right, a.name))
                })?;
            let principal = PrincipalRef { kind: principal_kind, object_id: lookup(principal_kind, &p.principal)? };
            seq += 1;
            store::insert_artifact_permission(&mut **tx, artifact.id, principal, right, now + seq).await.map_err(|e| {
                if e.is_unique_violation() {
                    invalid(format!("'{}' holds two permissions on '{}'", p.principal, a.name))
                } else {
                    e.into()
                }
            })?;
        }
        for sub in &a.subscriptions {
            if !matches!(kind, ArtifactKind::Report | ArtifactKind::PaginatedReport | ArtifactKind::Dashboard) {
                return Err(invalid(format!("only reports and dashboards have subscriptions, not {kind} '{}'", a.name)));
            }
            let start = sub.start_date.unwrap_or(now);
            seq += 1;
            let subscription = Subscription {
                id: sub.id.unwrap_or_else(Uuid::new_v4),
                artifact_id: artifact.id,
                owner_id: lookup(PrincipalKind::User, &sub.owner)?,
                title: sub.title.clone(),
                frequency: sub.frequency.clone().unwrap_or_else(|| "Daily".into()),
                is_enabled: sub.is_enabled,
                start_date: start,
                end_date: sub.end_date.unwrap_or(start + 365 * 24 * 3600 * 1000),
                attachment_format: sub.attachment_format.clone().unwrap_or_else(|| "PNG".into()),
                sub_artifact_name: sub.sub_artifact_name.clone(),
            };
            store::insert_subscription(&mut **tx, artifact.tenant_id, &subscription, now + seq).await?;
        }
        provisioned.insert((spec.workspaces[*ws].name.clone(), kind.as_str().to_string(), a.name.clone()), artifact.id);
    }
    Ok(())
}

/// The demo tenant of a first start: a Fabric administrator, members, a guest, a service
/// principal with a secret, groups, and two workspaces with members in every role.
pub async fn create_demo(store: &Store, clock: &dyn Clock) -> Result<DemoCredentials, ProvisionError> {
    let password = Alphanumeric.sample_string(&mut rand::thread_rng(), 16);
    let secret = new_client_secret();
    let spec = demo_spec(&password, &secret);
    let mut tx = store.bulk_write().await?;
    let provisioned = provision_in(&mut tx, clock, &spec).await?;
    let demo = DemoCredentials {
        tenant_id: provisioned.tenant.id,
        client_id: provisioned.service_principals[DEMO_APP].1,
        client_secret: secret,
        admin_upn: demo_upn("admin"),
        member_upn: demo_upn("dave"),
        password,
    };
    store::insert_demo_credentials(&mut *tx, &demo).await?;
    tx.commit().await?;
    Ok(demo)
}

const DEMO_DOMAIN: &str = "contoso.onmicrosoft.com";
const DEMO_APP: &str = "pbi-access demo automation";
const DEMO_GUEST: &str = "gina_fabrikam.com#EXT#@contoso.onmicrosoft.com";

fn demo_upn(local: &str) -> String {
    format!("{local}@{DEMO_DOMAIN}")
}

/// Contoso: every user signs in with `password`, the automation app with `secret`.
fn demo_spec(password: &str, secret: &str) -> TenantSpec {
    use PrincipalKind::{Group, User};
    let member = |local: &str, name: &str, fabric_admin: bool| UserSpec {
        upn: demo_upn(local),
        mail: Some(demo_upn(local)),
        display_name: name.into(),
        password: Some(password.into()),
        fabric_admin,
        ..Default::default()
    };
    let guest = UserSpec {
        upn: DEMO_GUEST.into(),
        mail: Some("gina@fabrikam.com".into()),
        display_name: "Gina (Fabrikam)".into(),
        guest: true,
        ..Default::default()
    };
    TenantSpec {
        name: "Contoso (demo)".into(),
        domain: DEMO_DOMAIN.into(),
        users: vec![
            member("admin", "Avery Admin", true),
            member("alice", "Alice Anders", false),
            member("bob", "Bob Berg", false),
            member("carol", "Carol Chen", false),
            member("dave", "Dave Diaz", false),
            guest,
        ],
        groups: vec![
            group("Sales Analysts", false, &[demo_upn("carol")], &[]),
            group("Finance Team", true, &[demo_upn("bob")], &[demo_upn("dave")]),
        ],
        service_principals: vec![
            ServicePrincipalSpec {
                display_name: DEMO_APP.into(),
                secrets: vec![SecretSpec { value: secret.into(), expires_at: None, hash: None }],
                ..Default::default()
            },
            ServicePrincipalSpec {
                app_id: Some(demo_app_id(pbi_wire::oauth::DEMO_REVIEW_APP_ID)),
                display_name: "Access Review".into(),
                // The review app redeems its codes with the demo client secret the banner prints.
                secrets: vec![SecretSpec { value: secret.into(), expires_at: None, hash: None }],
                redirect_uris: ["http://localhost", "http://127.0.0.1", "https://localhost", "https://127.0.0.1"]
                    .iter()
                    .map(|origin| format!("{origin}{}", pbi_wire::oauth::DEMO_REVIEW_REDIRECT_PATH))
                    .collect(),
                ..Default::default()
            },
            ServicePrincipalSpec {
                app_id: Some(demo_app_id(pbi_wire::oauth::DEMO_PUBLIC_CLIENT_ID)),
                display_name: "pbi-access CLI".into(),
                redirect_uris: vec!["http://localhost".into()],
                client_type: ClientType::Public,
                ..Default::default()
            },
        ],
        workspaces: demo_workspaces(),
        scim_secret: Some(demo_scim_secret(secret)),
        subscribed_skus: vec![sku("POWER_BI_STANDARD", 1000), sku("POWER_BI_PRO", 25), sku("PBI_PREMIUM_PER_USER", 5)],
        licenses: vec![
            license(&demo_upn("admin"), User, "POWER_BI_PRO"),
            license(&demo_upn("alice"), User, "POWER_BI_PRO"),
            license(&demo_upn("bob"), User, "PBI_PREMIUM_PER_USER"),
            license("Finance Team", Group, "POWER_BI_PRO"),
        ],
        capacities: vec![CapacitySpec {
            id: None,
            display_name: "Contoso P1".into(),
            sku: "P1".into(),
            region: "West Europe".into(),
            state: None,
            users: vec![right(&demo_upn("admin"), User, CapacityRight::Admin), right(&demo_upn("alice"), User, CapacityRight::Assign)],
        }],
        pipelines: vec![PipelineSpec {
            id: None,
            display_name: "Sales Release".into(),
            description: Some("Development, test and production of the sales reports".into()),
            users: vec![
                right(&demo_upn("alice"), PrincipalKind::User, "Admin".to_string()),
                right(DEMO_APP, PrincipalKind::App, "Admin".to_string()),
            ],
        }],
        gateways: vec![GatewaySpec {
            id: None,
            name: "Contoso On-Premises".into(),
            users: vec![
                right(&demo_upn("admin"), PrincipalKind::User, "Admin".to_string()),
                right(DEMO_APP, PrincipalKind::App, "Admin".to_string()),
                right(&demo_upn("bob"), PrincipalKind::User, "ConnectionCreator".to_string()),
            ],
            datasources: vec![DatasourceSpec {
                id: None,
                name: "Sales SQL".into(),
                datasource_type: "Sql".into(),
                users: vec![right(&demo_upn("alice"), PrincipalKind::User, "Read".to_string())],
            }],
        }],
        ..Default::default()
    }
}

/// Sales Analytics (on the capacity, every kind of item) and Finance Reporting (backed by the
/// Finance Team group).
fn demo_workspaces() -> Vec<WorkspaceSpec> {
    use PrincipalKind::{App, Group, User};
    let item = |kind: ArtifactKind, name: &str| ArtifactSpec { kind, name: name.into(), ..Default::default() };
    let owned = |kind: ArtifactKind, name: &str, owner: &str| ArtifactSpec { configured_by: Some(demo_upn(owner)), ..item(kind, name) };
    let sales = vec![
        ArtifactSpec {
            // dave has no role here: the model is shared with him directly.
            permissions: vec![right(&demo_upn("dave"), User, "ReadReshare".to_string())],
            ..owned(ArtifactKind::Dataset, "Sales Model", "alice")
        },
        ArtifactSpec {
            dataset: Some("Sales Model".into()),
            permissions: vec![right(&demo_upn("dave"), User, "Read".to_string())],
            subscriptions: vec![SubscriptionSpec {
                owner: demo_upn("carol"),
                title: "Sales every morning".into(),
                is_enabled: true,
                ..Default::default()
            }],
            ..owned(ArtifactKind::Report, "Sales Overview", "alice")
        },
        item(ArtifactKind::PaginatedReport, "Invoices"),
        item(ArtifactKind::Dashboard, "Sales Pulse"),
        owned(ArtifactKind::Dataflow, "Sales Prep", "bob"),
        ArtifactSpec { permissions: vec![right("Finance Team", Group, "Read".to_string())], ..item(ArtifactKind::App, "Sales App") },
    ];
    vec![
        WorkspaceSpec {
            name: "Sales Analytics".into(),
            members: vec![
                member(&demo_upn("admin"), User, Role::Admin),
                member(DEMO_APP, App, Role::Admin),
                member(&demo_upn("alice"), User, Role::Member),
                member(&demo_upn("bob"), User, Role::Contributor),
                member(&demo_upn("carol"), User, Role::Viewer),
                member(DEMO_GUEST, User, Role::Viewer),
                member("Sales Analysts", Group, Role::Viewer),
            ],
            capacity: Some("Contoso P1".into()),
            artifacts: sales,
            ..Default::default()
        },
        WorkspaceSpec {
            name: "Finance Reporting".into(),
            backed_by: Some("Finance Team".into()),
            members: vec![
                member(&demo_upn("admin"), User, Role::Admin),
                member(DEMO_APP, App, Role::Admin),
                member(&demo_upn("dave"), User, Role::Member),
                member(&demo_upn("alice"), User, Role::Contributor),
                member("Finance Team", Group, Role::Viewer),
            ],
            artifacts: vec![owned(ArtifactKind::Dataset, "Ledger", "dave")],
            ..Default::default()
        },
    ]
}

fn group(name: &str, microsoft365: bool, members: &[String], owners: &[String]) -> GroupSpec {
    GroupSpec {
        display_name: name.into(),
        microsoft365,
        members: members.iter().map(|m| GroupMemberSpec { principal: m.clone(), principal_type: PrincipalKind::User }).collect(),
        owners: owners.to_vec(),
        ..Default::default()
    }
}

fn member(principal: &str, principal_type: PrincipalKind, role: Role) -> MemberSpec {
    MemberSpec { principal: principal.into(), principal_type, role }
}

fn right<R>(principal: &str, principal_type: PrincipalKind, access_right: R) -> RightSpec<R> {
    RightSpec { principal: principal.into(), principal_type, access_right }
}

fn sku(part_number: &str, seats: i64) -> SkuSpec {
    SkuSpec { sku_part_number: part_number.into(), seats }
}

fn license(principal: &str, principal_type: PrincipalKind, sku: &str) -> LicenseSpec {
    LicenseSpec { principal: principal.into(), principal_type, sku_part_number: sku.into() }
}

/// A principal with a right, as a spec names it in an export (by object id).
fn right_spec<R>(user: &ItemUser<R>, right: &str) -> RightSpec {
    RightSpec { principal: user.principal.object_id.to_string(), principal_type: user.principal.kind, access_right: right.into() }
}

/// The tenant's pipelines and gateways (with data sources) as `export` writes them.
async fn export_shared_items(store: &Store, tenant_id: Uuid) -> Result<(Vec<PipelineSpec>, Vec<GatewaySpec>), StoreError> {
    let mut pipelines = Vec::new();
    for p in store.list_pipelines(tenant_id).await? {
        let users = store.list_pipeline_users(tenant_id, p.id).await?.iter().map(|u| right_spec(u, u.right.as_str())).collect();
        pipelines.push(PipelineSpec { id: Some(p.id), display_name: p.display_name, description: p.description, users });
    }
    let mut gateways = Vec::new();
    for g in store.list_gateways(tenant_id).await? {
        let users = store.list_gateway_users(tenant_id, g.id).await?.iter().map(|u| right_spec(u, u.right.as_str())).collect();
        let mut datasources = Vec::new();
        for d in store.list_datasources(tenant_id, g.id).await? {
            // Profiles' entries are made through the API, not the spec.
            let users = store
                .list_datasource_users(tenant_id, d.id)
                .await?
                .iter()
                .filter(|u| u.profile_id.is_none())
                .map(|u| right_spec(u, u.right.as_str()))
                .collect();
            datasources.push(DatasourceSpec { id: Some(d.id), name: d.name, datasource_type: d.datasource_type, users });
        }
        gateways.push(GatewaySpec { id: Some(g.id), name: g.name, users, datasources });
    }
    Ok((pipelines, gateways))
}

fn demo_app_id(id: &str) -> Uuid {
    Uuid::parse_str(id).unwrap_or_default()
}

/// The whole tenant as a spec that `provision` takes back: same ids, hashed secrets and
/// passwords (never plain text), members named by object id.
pub async fn export(store: &Store, tenant_id: Uuid) -> Result<Option<TenantSpec>, StoreError> {
    let Some(tenant) = store.find_tenant(&tenant_id.to_string()).await? else { return Ok(None) };
    let rows = store.tenant_rows(tenant_id).await?;
    let extras = store.artifact_rows(tenant_id).await?;
    let settings = store.get_tenant_settings(tenant_id).await?.unwrap_or_default();
    let scim_secret_hash = store.scim_secret_hash(tenant_id).await.map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut workspaces = Vec::new();
    for (ws, backing) in &rows.workspaces {
        let members = store
            .members(tenant_id, ws.id)
            .await?
            .into_iter()
            .filter(|m| m.profile_id.is_none())
            .map(|m| MemberSpec { principal: m.principal.object_id.to_string(), principal_type: m.principal.kind, role: m.role })
            .collect();
        let artifacts = extras.artifacts.iter().filter(|a| a.workspace_id == ws.id).map(|a| export_artifact(a, &extras)).collect();
        workspaces.push(WorkspaceSpec {
            id: Some(ws.id),
            name: ws.name.clone(),
            backed_by: backing.map(|b| b.to_string()),
            members,
            capacity: ws.capacity_id.map(|c| c.to_string()),
            artifacts,
            personal: ws.kind == "PersonalGroup",
        });
    }
    let capacities = export_capacities(&extras);
    let (pipelines, gateways) = export_shared_items(store, tenant_id).await?;
    let group_name = |id: Option<Uuid>| id.map(|g| g.to_string());
    let registrations: HashMap<Uuid, AppRegistration> = store.app_registrations(tenant_id).await?.into_iter().collect();
    Ok(Some(TenantSpec {
        pipelines,
        gateways,
        id: Some(tenant.id),
        name: tenant.name,
        domain: tenant.domain,
        users: rows
            .users
            .into_iter()
            .map(|(u, hash, admin)| UserSpec {
                id: Some(u.id),
                upn: u.upn,
                mail: u.mail,
                display_name: u.display_name,
                guest: u.user_type == UserType::Guest,
                account_enabled: u.account_enabled,
                password: None,
                password_hash: hash,
                fabric_admin: admin,
            })
            .collect(),
        groups: rows
            .groups
            .iter()
            .map(|g| GroupSpec {
                id: Some(g.id),
                display_name: g.display_name.clone(),
                microsoft365: g.kind == GroupKind::Microsoft365,
                members: rows
                    .group_members
                    .iter()
                    .filter(|(group, _)| *group == g.id)
                    .map(|(_, m)| GroupMemberSpec { principal: m.object_id.to_string(), principal_type: m.kind })
                    .collect(),
                owners: rows.group_owners.iter().filter(|(group, _)| *group == g.id).map(|(_, o)| o.to_string()).collect(),
            })
            .collect(),
        service_principals: rows
            .service_principals
            .iter()
            .map(|sp| ServicePrincipalSpec {
                id: Some(sp.id),
                app_id: Some(sp.app_id),
                display_name: sp.display_name.clone(),
                secrets: rows
                    .secrets
                    .iter()
                    .filter(|(owner, _)| *owner == sp.id)
                    .map(|(_, s)| SecretSpec { value: String::new(), hash: Some(s.secret_hash.clone()), expires_at: Some(s.expires_at) })
                    .collect(),
                certificates: rows.certificates.iter().filter(|(owner, _)| *owner == sp.id).map(|(_, c)| CertificateSpec::of(c)).collect(),
                redirect_uris: registrations.get(&sp.id).map(|r| r.redirect_uris.clone()).unwrap_or_default(),
                client_type: registrations.get(&sp.id).map(|r| r.client_type).unwrap_or_default(),
                permissions: registrations.get(&sp.id).map(|r| r.permissions.clone()).unwrap_or_default(),
                app_roles: registrations.get(&sp.id).map(|r| r.app_roles.clone()).unwrap_or_default(),
            })
            .collect(),
        workspaces,
        scim_secret: None,
        scim_secret_hash,
        subscribed_skus: rows.skus.iter().map(|(part, seats)| SkuSpec { sku_part_number: part.clone(), seats: *seats }).collect(),
        licenses: rows
            .licenses
            .iter()
            .filter_map(|(principal, sku)| {
                let part = POWER_BI_SKUS.iter().find(|s| s.sku_id == *sku)?.part_number;
                Some(LicenseSpec {
                    principal: principal.object_id.to_string(),
                    principal_type: principal.kind,
                    sku_part_number: part.into(),
                })
            })
            .collect(),
        settings: SettingsSpec {
            service_principals_can_use_apis: settings.sp_api_enabled,
            service_principals_api_group: group_name(settings.sp_api_group),
            service_principals_can_use_admin_apis: settings.sp_admin_api_enabled,
            service_principals_admin_api_group: group_name(settings.sp_admin_api_group),
        },
        capacities,
    }))
}

/// An artifact as a spec, with its permissions and subscriptions.
fn export_artifact(a: &Artifact, extras: &store::ArtifactRows) -> ArtifactSpec {
    ArtifactSpec {
        id: Some(a.id),
        kind: a.kind,
        name: a.name.clone(),
        description: a.description.clone(),
        dataset: a.dataset_id.map(|d| d.to_string()),
        configured_by: a.configured_by.clone(),
        permissions: extras
            .permissions
            .iter()
            .filter(|(artifact, _, _)| *artifact == a.id)
            .map(|(_, p, right)| RightSpec { principal: p.object_id.to_string(), principal_type: p.kind, access_right: right.clone() })
            .collect(),
        subscriptions: extras
            .subscriptions
            .iter()
            .filter(|sub| sub.artifact_id == a.id)
            .map(|sub| SubscriptionSpec {
                id: Some(sub.id),
                owner: sub.owner_id.to_string(),
                title: sub.title.clone(),
                frequency: Some(sub.frequency.clone()),
                is_enabled: sub.is_enabled,
                start_date: Some(sub.start_date),
                end_date: Some(sub.end_date),
                attachment_format: Some(sub.attachment_format.clone()),
                sub_artifact_name: sub.sub_artifact_name.clone(),
            })
            .collect(),
    }
}

/// The capacities, with the principals holding rights on them.
fn export_capacities(extras: &store::ArtifactRows) -> Vec<CapacitySpec> {
    extras
        .capacities
        .iter()
        .map(|c| CapacitySpec {
            id: Some(c.id),
            display_name: c.display_name.clone(),
            sku: c.sku.clone(),
            region: c.region.clone(),
            state: Some(c.state.clone()),
            users: extras
                .capacity_users
                .iter()
                .filter(|(capacity, _, _)| *capacity == c.id)
                .map(|(_, p, right)| RightSpec { principal: p.object_id.to_string(), principal_type: p.kind, access_right: *right })
                .collect(),
        })
        .collect()
}

/// What `tenant create` made: the tenant and an automation service principal's credentials.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedTenant {
    pub tenant_id: Uuid,
    pub domain: String,
    pub client_id: Uuid,
    pub client_secret: String,
}

/// A new empty tenant with a service principal ("tenant automation") and a fresh secret, and
/// optionally a Fabric administrator user.
pub async fn create(
    store: &Store,
    clock: &dyn Clock,
    name: &str,
    domain: &str,
    admin: Option<(&str, &str)>,
) -> Result<CreatedTenant, ProvisionError> {
    let secret = new_client_secret();
    let spec = TenantSpec {
        name: name.into(),
        domain: domain.into(),
        users: admin
            .map(|(upn, password)| UserSpec {
                upn: upn.into(),
                mail: Some(upn.into()),
                display_name: upn.split('@').next().unwrap_or(upn).into(),
                password: Some(password.into()),
                fabric_admin: true,
                ..Default::default()
            })
            .into_iter()
            .collect(),
        service_principals: vec![ServicePrincipalSpec {
            id: None,
            app_id: None,
            display_name: "tenant automation".into(),
            secrets: vec![SecretSpec { value: secret.clone(), hash: None, expires_at: None }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let made = provision(store, clock, &spec).await?;
    Ok(CreatedTenant {
        tenant_id: made.tenant.id,
        domain: made.tenant.domain,
        client_id: made.service_principals["tenant automation"].1,
        client_secret: secret,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    /// A tenant file with every field that holds a domain enum, as `tenant export` writes it.
    fn file() -> Value {
        json!({
            "id": "6f1c2f4e-7d7a-4f43-9b7e-0c7b4f1d2a10",
            "name": "Contoso",
            "domain": "contoso.onmicrosoft.com",
            "users": [],
            "groups": [{
                "id": null, "displayName": "Finance", "microsoft365": true,
                "members": [{ "principal": "bob@contoso.onmicrosoft.com", "principalType": "User" },
                            { "principal": "Sales", "principalType": "Group" }],
                "owners": []
            }],
            "servicePrincipals": [],
            "workspaces": [{
                "id": null, "name": "Sales", "backedBy": null,
                "members": [{ "principal": "a@contoso.onmicrosoft.com", "principalType": "User", "role": "Admin" },
                            { "principal": "automation", "principalType": "App", "role": "Contributor" },
                            { "principal": "Finance", "principalType": "Group", "role": "Viewer" }],
                "artifacts": [{
                    "id": null, "kind": "PaginatedReport", "name": "Invoices",
                    "permissions": [{ "principal": "Finance", "principalType": "Group", "accessRight": "ReadReshare" }]
                }]
            }],
            "settings": { "servicePrincipalsCanUseApis": true, "servicePrincipalsApiGroup": null,
                          "servicePrincipalsCanUseAdminApis": false, "servicePrincipalsAdminApiGroup": "Finance" },
            "licenses": [{ "principal": "Finance", "principalType": "Group", "skuPartNumber": "POWER_BI_PRO" }],
            "capacities": [{
                "id": null, "displayName": "P1", "sku": "P1", "region": "West Europe",
                "users": [{ "principal": "a@contoso.onmicrosoft.com", "principalType": "User", "accessRight": "Assign" },
                          { "principal": "Finance", "principalType": "Group", "accessRight": "Admin" }]
            }]
        })
    }

    #[test]
    fn a_tenant_file_reads_and_writes_back_word_for_word() {
        let spec: TenantSpec = serde_json::from_value(file()).unwrap();
        assert_eq!(spec.workspaces[0].members[1].principal_type, PrincipalKind::App);
        assert_eq!(spec.workspaces[0].members[1].role, Role::Contributor);
        assert_eq!(spec.workspaces[0].artifacts[0].kind, ArtifactKind::PaginatedReport);
        assert_eq!(spec.capacities[0].users[1].access_right, CapacityRight::Admin);
        assert_eq!(serde_json::to_value(&spec).unwrap(), file());
    }

    #[test]
    fn a_principal_type_left_out_is_a_user() {
        let member: MemberSpec = serde_json::from_value(json!({ "principal": "a@b.c", "role": "Member" })).unwrap();
        assert_eq!((member.principal_type, member.role), (PrincipalKind::User, Role::Member));
    }

    #[test]
    fn words_no_enum_has_are_refused_with_the_enum_s_message() {
        let refused = |pointer: &str, word: &str| {
            let mut file = file();
            *file.pointer_mut(pointer).unwrap() = json!(word);
            serde_json::from_value::<TenantSpec>(file).unwrap_err().to_string()
        };
        assert!(refused("/groups/0/members/0/principalType", "Robot").contains("unknown principal kind 'Robot'"));
        assert!(refused("/workspaces/0/members/0/role", "None").contains("unknown role 'None'"));
        assert!(refused("/workspaces/0/artifacts/0/kind", "Notebook").contains("unknown artifact kind 'Notebook'"));
        assert!(refused("/capacities/0/users/0/accessRight", "Owner").contains("unknown capacity access right 'Owner'"));
    }

    #[test]
    fn the_demo_tenant_is_a_valid_spec_in_every_role() {
        let spec = demo_spec("password", "secret");
        let text = serde_json::to_string(&spec).unwrap();
        let back: TenantSpec = serde_json::from_str(&text).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), text);
        let roles: Vec<Role> = spec.workspaces.iter().flat_map(|w| w.members.iter().map(|m| m.role)).collect();
        for role in [Role::Admin, Role::Member, Role::Contributor, Role::Viewer] {
            assert!(roles.contains(&role), "no {role} in the demo");
        }
    }
}
