//! The directory store: users, groups, memberships (members and owners) and licences, one file
//! each, plus tenants, applications and directory roles (`tenants.rs`). SCIM and Graph read and
//! write through these methods.
//!
//! Tenant isolation: every statement filters by `tenant_id`.
//!
//! Every write runs in a `WriteTx` from `Store::dir_write`, whose commit moves the tenant's
//! generations, commits and forgets the cached views: names, UPNs and deletions show in
//! workspace member lists.

mod groups;
mod licences;
mod members;
pub mod query;
mod tenants;
mod users;

pub(crate) use groups::{group_from_row, GROUP_FULL};
pub use groups::{insert_groups, GroupKey, GROUP_COLUMNS};
pub use licences::{insert_licenses, insert_subscribed_skus, rebuild_licences};
pub use members::{insert_group_members, insert_group_owners, GroupObjects, Reach};
pub use tenants::*;
pub use users::{insert_users, NewUser, USER_COLUMNS};
pub(crate) use users::{user_from_full_row, USER_FULL};

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, Row};
use uuid::Uuid;

use self::groups::*;
use self::licences::{on_membership_change, reprocess_users};
use self::members::*;
use self::users::*;
use super::access::MEMBERSHIPS_CTE;
use super::activity::{record_activity, DirAuditor};
use super::{parse_enum, parse_uuid, Store, StoreError};
use crate::domain::identity::{
    DirChange, DirGroup, DirObject, DirUser, GroupMemberRef, LicenseAllocation, LicenseFacts, SubscribedSku, UserLicense,
    RESTORE_WINDOW_MILLIS,
};
use crate::domain::{DirectoryRole, GroupKind, PrincipalKind, UserType};

/// Why a directory write (or a read of one object) did not happen.
#[derive(Debug, thiserror::Error)]
pub enum DirError {
    /// The object named by the request does not exist in the tenant (or is deleted).
    #[error("the object does not exist")]
    NotFound,
    /// An object a request refers to (a member, an owner) does not exist.
    #[error("the referenced object '{0}' does not exist")]
    ReferenceNotFound(Uuid),
    /// Another object already has this unique value (a UPN).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    /// `If-Match` named another version.
    #[error("the object is at version {current}")]
    VersionMismatch { current: i64 },
    #[error("the object is already a member")]
    AlreadyMember,
    #[error("the object is not a member")]
    NotMember,
    #[error("adding this member would make a group a member of itself")]
    Cycle,
    #[error("subscription {0} does not have any available licenses")]
    NoSeats(Uuid),
    #[error("license {0} is not a SKU the tenant subscribes to")]
    UnknownSku(Uuid),
    #[error("the user does not hold license {0}")]
    NotAssigned(Uuid),
    #[error("licenses cannot be assigned to a user without a usage location")]
    NoUsageLocation,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for DirError {
    fn from(e: sqlx::Error) -> Self {
        DirError::Store(e.into())
    }
}

pub type DirResult<T> = Result<T, DirError>;

pub(super) fn check_if_match(current: i64, if_version: Option<i64>) -> DirResult<()> {
    match if_version {
        Some(v) if v != current => Err(DirError::VersionMismatch { current }),
        _ => Ok(()),
    }
}

/// Compute what the directory keeps derived from its rows (the licence state) for a tenant
/// written in bulk; `WriteTx::commit` of a bulk write calls it. The kept counts need no
/// rebuild: `insert_users` and `insert_groups`, the bulk writers' path too, move them.
pub(crate) async fn rebuild_derived(conn: &mut AnyConnection, tenant: Uuid) -> Result<(), StoreError> {
    rebuild_licences(conn, tenant).await
}

/// Write the event `audit` makes of `change` on the change's own connection (transaction).
pub(super) async fn audit_change(
    conn: &mut AnyConnection,
    tenant: Uuid,
    audit: &dyn DirAuditor,
    now: i64,
    change: DirChange<'_>,
) -> DirResult<()> {
    record_activity(&mut *conn, tenant, &audit.event(now, &change)).await?;
    Ok(())
}

impl Store {
    // ----- SCIM provisioning secret -----

    /// Set (or, with `None`, remove) the tenant's SCIM provisioning secret; only its hash is kept.
    pub async fn update_scim_secret(&self, tenant: Uuid, secret: Option<&str>) -> DirResult<()> {
        let n = update_scim_secret_hash(&self.write, tenant, secret.map(crate::auth::credentials::hash_secret).as_deref()).await?;
        if n == 0 {
            return Err(DirError::NotFound);
        }
        Ok(())
    }

    /// The hash of the tenant's SCIM secret, if one is set.
    pub async fn scim_secret_hash(&self, tenant: Uuid) -> DirResult<Option<String>> {
        let row =
            sqlx::query("SELECT scim_secret_hash FROM tenants WHERE id = $1").bind(tenant.to_string()).fetch_optional(&self.read).await?;
        Ok(row.map(|r| r.try_get::<Option<String>, _>("scim_secret_hash")).transpose()?.flatten())
    }
}

/// Store a SCIM secret hash for a tenant (inside a provisioning transaction too).
pub async fn update_scim_secret_hash<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    e: E,
    tenant: Uuid,
    hash: Option<&str>,
) -> Result<u64, StoreError> {
    Ok(sqlx::query("UPDATE tenants SET scim_secret_hash = $2 WHERE id = $1")
        .bind(tenant.to_string())
        .bind(hash)
        .execute(e)
        .await?
        .rows_affected())
}
