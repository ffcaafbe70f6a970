//! Licences: subscribed SKUs with seats, direct and group-based assignments, and the effective
//! licences after the propagation delay.

use super::*;

pub(super) async fn load_license_facts(conn: &mut AnyConnection, tenant: Uuid) -> DirResult<LicenseFacts> {
    let t = tenant.to_string();
    let mut facts = LicenseFacts::default();
    for r in sqlx::query("SELECT sku_id, sku_part_number, prepaid_enabled FROM subscribed_skus WHERE tenant_id = $1")
        .bind(&t)
        .fetch_all(&mut *conn)
        .await?
    {
        facts.skus.insert(parse_uuid(&r.try_get::<String, _>("sku_id")?)?, (r.try_get("sku_part_number")?, r.try_get("prepaid_enabled")?));
    }
    for r in sqlx::query("SELECT id FROM users WHERE tenant_id = $1 AND deleted_at IS NULL").bind(&t).fetch_all(&mut *conn).await? {
        facts.active_users.insert(parse_uuid(&r.try_get::<String, _>("id")?)?);
    }
    for r in sqlx::query("SELECT user_id, sku_id, assigned_at FROM license_assignments WHERE tenant_id = $1")
        .bind(&t)
        .fetch_all(&mut *conn)
        .await?
    {
        facts.direct.push((
            parse_uuid(&r.try_get::<String, _>("user_id")?)?,
            parse_uuid(&r.try_get::<String, _>("sku_id")?)?,
            r.try_get("assigned_at")?,
        ));
    }
    for r in sqlx::query(
        "SELECT l.group_id, l.sku_id, l.assigned_at FROM group_licenses l JOIN directory_groups g ON g.tenant_id = l.tenant_id \
         AND g.id = l.group_id WHERE l.tenant_id = $1 AND g.deleted_at IS NULL",
    )
    .bind(&t)
    .fetch_all(&mut *conn)
    .await?
    {
        facts.group_licenses.push((
            parse_uuid(&r.try_get::<String, _>("group_id")?)?,
            parse_uuid(&r.try_get::<String, _>("sku_id")?)?,
            r.try_get("assigned_at")?,
        ));
    }
    for r in sqlx::query(
        "SELECT m.group_id, m.member_id, m.member_type, m.added_at FROM group_members m JOIN directory_groups g \
         ON g.tenant_id = m.tenant_id AND g.id = m.group_id WHERE m.tenant_id = $1 AND g.deleted_at IS NULL",
    )
    .bind(&t)
    .fetch_all(&mut *conn)
    .await?
    {
        facts.members.entry(parse_uuid(&r.try_get::<String, _>("group_id")?)?).or_default().push((
            parse_uuid(&r.try_get::<String, _>("member_id")?)?,
            parse_enum::<PrincipalKind>(&r.try_get::<String, _>("member_type")?)?,
            r.try_get("added_at")?,
        ));
    }
    Ok(facts)
}

/// Take the tenant's license lock: on PostgreSQL the tenant row's lock serialises every license
/// assignment of the tenant (one row, so no lock-order deadlocks), so the seat check reads
/// counts nobody else can change before the commit. On SQLite the single writer does it.
pub(super) async fn lock_licenses(conn: &mut AnyConnection, tenant: Uuid) -> DirResult<()> {
    sqlx::query("UPDATE tenants SET name = name WHERE id = $1").bind(tenant.to_string()).execute(&mut *conn).await?;
    Ok(())
}

/// The SKUs held before and after removing `remove` and adding `add`, each sorted.
pub(super) fn license_sets(held: &HashSet<Uuid>, add: &[Uuid], remove: &[Uuid]) -> (Vec<Uuid>, Vec<Uuid>) {
    let mut before: Vec<Uuid> = held.iter().copied().collect();
    before.sort();
    let mut after: Vec<Uuid> =
        held.iter().filter(|s| !remove.contains(s)).chain(add.iter()).copied().collect::<HashSet<_>>().into_iter().collect();
    after.sort();
    (before, after)
}

/// Who holds directly assigned SKUs: a user (`license_assignments`) or a group (`group_licenses`).
#[derive(Clone, Copy)]
pub(super) enum LicenseHolder {
    User(Uuid),
    Group(Uuid),
}

impl LicenseHolder {
    fn id(self) -> Uuid {
        match self {
            Self::User(id) | Self::Group(id) => id,
        }
    }

    /// The statements that delete and insert one of the holder's SKUs.
    fn delete_and_insert_sql(self) -> (&'static str, &'static str) {
        match self {
            Self::User(_) => (
                "DELETE FROM license_assignments WHERE tenant_id = $1 AND user_id = $2 AND sku_id = $3",
                "INSERT INTO license_assignments (tenant_id, user_id, sku_id, assigned_at) VALUES ($1, $2, $3, $4)",
            ),
            Self::Group(_) => (
                "DELETE FROM group_licenses WHERE tenant_id = $1 AND group_id = $2 AND sku_id = $3",
                "INSERT INTO group_licenses (tenant_id, group_id, sku_id, assigned_at) VALUES ($1, $2, $3, $4)",
            ),
        }
    }
}

/// A removed SKU must be held directly (`held`).
pub(super) fn check_removals(held: &HashSet<Uuid>, remove: &[Uuid]) -> DirResult<()> {
    match remove.iter().find(|sku| !held.contains(sku)) {
        Some(sku) => Err(DirError::NotAssigned(*sku)),
        None => Ok(()),
    }
}

/// An added SKU must be one the tenant subscribes to.
pub(super) fn check_subscribed(facts: &LicenseFacts, add: &[Uuid]) -> DirResult<()> {
    match add.iter().find(|sku| !facts.skus.contains_key(sku)) {
        Some(sku) => Err(DirError::UnknownSku(*sku)),
        None => Ok(()),
    }
}

/// Write a checked license change: delete the removed SKUs, insert the added ones the holder
/// does not keep (one removed and added again gets a new `assigned_at`).
pub(super) async fn write_license_rows(
    conn: &mut AnyConnection,
    tenant: Uuid,
    holder: LicenseHolder,
    held: &HashSet<Uuid>,
    add: &[Uuid],
    remove: &[Uuid],
    now: i64,
) -> DirResult<()> {
    let (delete, insert) = holder.delete_and_insert_sql();
    for sku in remove {
        link_query(delete, tenant, holder.id(), *sku).execute(&mut *conn).await?;
    }
    for sku in add {
        if held.contains(sku) && !remove.contains(sku) {
            continue;
        }
        sqlx::query(insert)
            .bind(tenant.to_string())
            .bind(holder.id().to_string())
            .bind(sku.to_string())
            .bind(now)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

impl Store {
    // ----- licenses -----

    /// Add a subscribed SKU to the tenant or change its seat count.
    pub async fn upsert_subscribed_sku(&self, tenant: Uuid, sku_id: Uuid, part_number: &str, prepaid_enabled: i64) -> DirResult<()> {
        if prepaid_enabled < 0 {
            return Err(DirError::Invalid("prepaid units cannot be negative".into()));
        }
        let mut tx = self.write.begin().await?;
        let n = sqlx::query("UPDATE subscribed_skus SET sku_part_number = $3, prepaid_enabled = $4 WHERE tenant_id = $1 AND sku_id = $2")
            .bind(tenant.to_string())
            .bind(sku_id.to_string())
            .bind(part_number)
            .bind(prepaid_enabled)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            sqlx::query("INSERT INTO subscribed_skus (tenant_id, sku_id, sku_part_number, prepaid_enabled) VALUES ($1, $2, $3, $4)")
                .bind(tenant.to_string())
                .bind(sku_id.to_string())
                .bind(part_number)
                .bind(prepaid_enabled)
                .execute(&mut *tx)
                .await?;
        }
        self.commit_dir_write(tx, tenant).await?;
        Ok(())
    }

    /// The tenant's SKUs with the seats in use.
    pub async fn subscribed_skus(&self, tenant: Uuid) -> DirResult<Vec<SubscribedSku>> {
        let mut conn = self.read.acquire().await?;
        let facts = load_license_facts(&mut conn, tenant).await?;
        let alloc = facts.allocate();
        let rows = sqlx::query(
            "SELECT sku_id, sku_part_number, prepaid_enabled, capability_status FROM subscribed_skus WHERE tenant_id = $1 \
             ORDER BY sku_part_number, sku_id",
        )
        .bind(tenant.to_string())
        .fetch_all(&mut *conn)
        .await?;
        rows.iter()
            .map(|r| {
                let sku_id = parse_uuid(&r.try_get::<String, _>("sku_id")?)?;
                Ok(SubscribedSku {
                    sku_id,
                    part_number: r.try_get("sku_part_number")?,
                    prepaid_enabled: r.try_get("prepaid_enabled")?,
                    capability_status: r.try_get("capability_status")?,
                    consumed_units: alloc.consumed.get(&sku_id).copied().unwrap_or(0),
                })
            })
            .collect()
    }

    /// The license allocation of the whole tenant (who holds which SKU, and seat use).
    pub async fn license_allocation(&self, tenant: Uuid) -> DirResult<LicenseAllocation> {
        let mut conn = self.read.acquire().await?;
        Ok(load_license_facts(&mut conn, tenant).await?.allocate())
    }

    /// Licenses a user holds now, directly or through groups, whether or not they have
    /// propagated yet (what Graph's `assignedLicenses` and `licenseDetails` show).
    pub async fn user_licenses(&self, tenant: Uuid, user: Uuid) -> DirResult<Vec<UserLicense>> {
        Ok(self.license_allocation(tenant).await?.of_user(user))
    }

    /// SKUs the services see for `user` at `now`: assignments older than `propagation_delay`.
    pub async fn effective_licenses(&self, tenant: Uuid, user: Uuid, now: i64, propagation_delay: Duration) -> DirResult<Vec<UserLicense>> {
        let cutoff = now - propagation_delay.as_millis() as i64;
        Ok(self.user_licenses(tenant, user).await?.into_iter().filter(|l| l.since <= cutoff).collect())
    }

    /// Graph's `assignLicense` for a user: add and remove direct assignments atomically. An
    /// added SKU must be subscribed and have a free seat (unless the user already holds one).
    pub async fn assign_user_licenses(
        &self,
        tenant: Uuid,
        user: Uuid,
        add: &[Uuid],
        remove: &[Uuid],
        now: i64,
        audit: &dyn DirAuditor,
    ) -> DirResult<DirUser> {
        let mut tx = self.write.begin().await?;
        lock_licenses(&mut tx, tenant).await?;
        let current = load_user(&mut tx, tenant, user).await?.filter(|u| u.deleted_at.is_none()).ok_or(DirError::NotFound)?;
        let facts = load_license_facts(&mut tx, tenant).await?;
        let direct: HashSet<Uuid> = facts.direct.iter().filter(|(u, _, _)| *u == user).map(|(_, s, _)| *s).collect();
        check_removals(&direct, remove)?;
        if !add.is_empty() && current.usage_location.is_none() {
            return Err(DirError::NoUsageLocation);
        }
        check_subscribed(&facts, add)?;
        // Check seats against the allocation after the removals.
        let mut after = facts.clone();
        after.direct.retain(|(u, s, _)| !(*u == user && remove.contains(s)));
        for sku in add {
            if after.direct.iter().any(|(u, s, _)| *u == user && s == sku) {
                continue;
            }
            let alloc = after.allocate();
            let holds = alloc.held.contains_key(&(user, *sku));
            let used = alloc.consumed.get(sku).copied().unwrap_or(0);
            let seats = facts.skus.get(sku).map(|(_, n)| *n).unwrap_or(0);
            if !holds && used >= seats {
                return Err(DirError::NoSeats(*sku));
            }
            after.direct.push((user, *sku, now));
        }
        write_license_rows(&mut tx, tenant, LicenseHolder::User(user), &direct, add, remove, now).await?;
        sqlx::query("UPDATE users SET version = version + 1, modified_at = $3 WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(user.to_string())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let updated = load_user(&mut tx, tenant, user).await?.ok_or(DirError::NotFound)?;
        let (before, after) = license_sets(&direct, add, remove);
        if before != after {
            audit_change(&mut tx, tenant, audit, now, DirChange::UserLicenses { user: &updated, before, after }).await?;
        }
        self.commit_dir_write(tx, tenant).await?;
        Ok(updated)
    }

    /// Group-based licensing: add and remove SKUs on a group. Members beyond the free seats
    /// get no seat (Entra's `CountViolation`), which is not an error of this call.
    pub async fn assign_group_licenses(
        &self,
        tenant: Uuid,
        group: Uuid,
        add: &[Uuid],
        remove: &[Uuid],
        now: i64,
        audit: &dyn DirAuditor,
    ) -> DirResult<DirGroup> {
        let mut tx = self.write.begin().await?;
        lock_licenses(&mut tx, tenant).await?;
        let updated = touch_group(&mut tx, tenant, group, now).await?;
        let facts = load_license_facts(&mut tx, tenant).await?;
        let has: HashSet<Uuid> = facts.group_licenses.iter().filter(|(g, _, _)| *g == group).map(|(_, s, _)| *s).collect();
        check_removals(&has, remove)?;
        check_subscribed(&facts, add)?;
        write_license_rows(&mut tx, tenant, LicenseHolder::Group(group), &has, add, remove, now).await?;
        let (before, after) = license_sets(&has, add, remove);
        if before != after {
            audit_change(&mut tx, tenant, audit, now, DirChange::GroupLicenses { group: &updated, before, after }).await?;
        }
        self.commit_dir_write(tx, tenant).await?;
        Ok(updated)
    }

    /// SKUs assigned to a group directly.
    pub async fn group_license_skus(&self, tenant: Uuid, group: Uuid) -> DirResult<Vec<Uuid>> {
        let rows = sqlx::query("SELECT sku_id FROM group_licenses WHERE tenant_id = $1 AND group_id = $2 ORDER BY sku_id")
            .bind(tenant.to_string())
            .bind(group.to_string())
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(|r| Ok(parse_uuid(&r.try_get::<String, _>("sku_id")?)?)).collect()
    }
}
