//! Licences: subscribed SKUs with seats, direct and group-based assignments, and the effective
//! licences after the propagation delay.

use super::*;
use crate::domain::PrincipalRef;
use crate::store::seed::{insert_rows, Value};
use crate::store::StoreResult;

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

/// The SKU ids `sql` selects (`$1` the tenant, `$2` the holder).
async fn skus_of(conn: &mut AnyConnection, sql: &str, tenant: Uuid, holder: Uuid) -> DirResult<Vec<Uuid>> {
    let rows = sqlx::query(sql).bind(tenant.to_string()).bind(holder.to_string()).fetch_all(&mut *conn).await?;
    rows.iter().map(|r| Ok(parse_uuid(&r.try_get::<String, _>("sku_id")?)?)).collect()
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

/// Subscribed SKUs' one write path for new rows: `(sku id, part number, prepaid seats)`, inside
/// the caller's transaction (`upsert_subscribed_sku`, `tenant import`, the seed generator).
pub async fn insert_subscribed_skus(conn: &mut AnyConnection, tenant: Uuid, skus: &[(Uuid, String, i64)]) -> StoreResult<()> {
    let rows = skus
        .iter()
        .map(|(id, part, seats)| vec![Value::from(tenant), Value::from(*id), Value::from(part.as_str()), Value::from(*seats)])
        .collect();
    insert_rows(conn, "subscribed_skus", &["tenant_id", "sku_id", "sku_part_number", "prepaid_enabled"], rows).await
}

/// Licence assignments written in bulk: `(principal, sku)`, direct for a user, group-based for a
/// group, inside the caller's transaction (`tenant import`, the seed generator); the bulk
/// commit derives the users' licence state and the seats in use from them (`rebuild_licences`).
pub async fn insert_licenses(conn: &mut AnyConnection, tenant: Uuid, assignments: &[(PrincipalRef, Uuid)], now: i64) -> StoreResult<()> {
    let rows = |kind: PrincipalKind| {
        assignments
            .iter()
            .filter(|(p, _)| p.kind == kind)
            .map(|(p, sku)| vec![Value::from(tenant), Value::from(p.object_id), Value::from(*sku), Value::from(now)])
            .collect::<Vec<_>>()
    };
    insert_rows(conn, "license_assignments", &["tenant_id", "user_id", "sku_id", "assigned_at"], rows(PrincipalKind::User)).await?;
    insert_rows(conn, "group_licenses", &["tenant_id", "group_id", "sku_id", "assigned_at"], rows(PrincipalKind::Group)).await
}

impl Store {
    // ----- licenses -----

    /// Add a subscribed SKU to the tenant or change its seat count.
    pub async fn upsert_subscribed_sku(&self, tenant: Uuid, sku_id: Uuid, part_number: &str, prepaid_enabled: i64) -> DirResult<()> {
        if prepaid_enabled < 0 {
            return Err(DirError::Invalid("prepaid units cannot be negative".into()));
        }
        let mut tx = self.dir_write(tenant).await?;
        let n = sqlx::query("UPDATE subscribed_skus SET sku_part_number = $3, prepaid_enabled = $4 WHERE tenant_id = $1 AND sku_id = $2")
            .bind(tenant.to_string())
            .bind(sku_id.to_string())
            .bind(part_number)
            .bind(prepaid_enabled)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            insert_subscribed_skus(&mut tx, tenant, &[(sku_id, part_number.to_string(), prepaid_enabled)]).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The tenant's SKUs with the seats in use (kept in `consumed_units`).
    pub async fn subscribed_skus(&self, tenant: Uuid) -> DirResult<Vec<SubscribedSku>> {
        let rows = sqlx::query(
            "SELECT sku_id, sku_part_number, prepaid_enabled, capability_status, consumed_units FROM subscribed_skus WHERE tenant_id = $1 \
             ORDER BY sku_part_number, sku_id",
        )
        .bind(tenant.to_string())
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SubscribedSku {
                    sku_id: parse_uuid(&r.try_get::<String, _>("sku_id")?)?,
                    part_number: r.try_get("sku_part_number")?,
                    prepaid_enabled: r.try_get("prepaid_enabled")?,
                    capability_status: r.try_get("capability_status")?,
                    consumed_units: r.try_get("consumed_units")?,
                })
            })
            .collect()
    }

    /// The license allocation of the whole tenant computed from its assignments (the bulk rule
    /// of `LicenseFacts::allocate`); for checks and tests, never on a request's path.
    pub async fn license_allocation(&self, tenant: Uuid) -> DirResult<LicenseAllocation> {
        let mut conn = self.read.acquire().await?;
        Ok(load_license_facts(&mut conn, tenant).await?.allocate())
    }

    /// Licenses a user holds a seat for now, directly or through groups, whether or not they
    /// have propagated yet (what Graph's `assignedLicenses` and `licenseDetails` show).
    pub async fn user_licenses(&self, tenant: Uuid, user: Uuid) -> DirResult<Vec<UserLicense>> {
        Ok(self.licenses_of_users(tenant, &[user]).await?.remove(&user).unwrap_or_default())
    }

    /// The licenses of each of `users` (see [`Store::user_licenses`]), from `user_licenses`.
    pub async fn licenses_of_users(&self, tenant: Uuid, users: &[Uuid]) -> DirResult<HashMap<Uuid, Vec<UserLicense>>> {
        let mut out = HashMap::new();
        for chunk in users.chunks(500) {
            let mut q = super::query::ListSql::default();
            q.text(tenant.to_string());
            let ids: Vec<String> = chunk.iter().map(|u| q.text(u.to_string())).collect();
            let sql = format!("{LICENSE_ROWS} AND l.user_id IN ({})", ids.join(", "));
            out.extend(licenses_from_rows(&q.query(&sql).fetch_all(&self.read).await?)?);
        }
        Ok(out)
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
        let mut tx = self.dir_write(tenant).await?;
        lock_licenses(&mut tx, tenant).await?;
        let current = load_user(&mut tx, tenant, user).await?.filter(|u| u.deleted_at.is_none()).ok_or(DirError::NotFound)?;
        let direct: HashSet<Uuid> =
            skus_of(&mut tx, "SELECT sku_id FROM license_assignments WHERE tenant_id = $1 AND user_id = $2", tenant, user)
                .await?
                .into_iter()
                .collect();
        check_removals(&direct, remove)?;
        if !add.is_empty() && current.usage_location.is_none() {
            return Err(DirError::NoUsageLocation);
        }
        let subscribed: HashSet<Uuid> =
            skus_of(&mut tx, "SELECT sku_id FROM subscribed_skus WHERE tenant_id = $1 AND $2 <> ''", tenant, user)
                .await?
                .into_iter()
                .collect();
        if let Some(sku) = add.iter().find(|s| !subscribed.contains(s)) {
            return Err(DirError::UnknownSku(*sku));
        }
        // A direct assignment needs a seat, unless the user holds one for the SKU already.
        let holding: HashSet<Uuid> =
            skus_of(&mut tx, "SELECT sku_id FROM user_licenses WHERE tenant_id = $1 AND user_id = $2 AND state = 'Active'", tenant, user)
                .await?
                .into_iter()
                .collect();
        write_license_rows(&mut tx, tenant, LicenseHolder::User(user), &direct, add, remove, now).await?;
        // Removals first: a seat freed by one is there for an added SKU (they differ, so only
        // the user's own change matters).
        for sku in add {
            if !direct.contains(sku) && !holding.contains(sku) && !seat_free(&mut tx, tenant, *sku).await? {
                return Err(DirError::NoSeats(*sku));
            }
        }
        reprocess_users(&mut tx, tenant, &[user], now).await?;
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
        tx.commit().await?;
        Ok(updated)
    }

    /// Graph's `reprocessLicenseAssignment`: process the user's assignments again, so a SKU
    /// waiting in `CountViolation` takes a seat that has become free.
    pub async fn reprocess_user_licenses(&self, tenant: Uuid, user: Uuid, now: i64) -> DirResult<DirUser> {
        let mut tx = self.dir_write(tenant).await?;
        lock_licenses(&mut tx, tenant).await?;
        let current = load_user(&mut tx, tenant, user).await?.filter(|u| u.deleted_at.is_none()).ok_or(DirError::NotFound)?;
        reprocess_users(&mut tx, tenant, &[user], now).await?;
        tx.commit().await?;
        Ok(current)
    }

    /// The SKUs `user` is assigned but holds no seat for (Entra's `CountViolation`).
    pub async fn license_count_violations(&self, tenant: Uuid, user: Uuid) -> DirResult<Vec<Uuid>> {
        let rows = sqlx::query(
            "SELECT sku_id FROM user_licenses WHERE tenant_id = $1 AND user_id = $2 AND state = 'CountViolation' ORDER BY sku_id",
        )
        .bind(tenant.to_string())
        .bind(user.to_string())
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(|r| Ok(parse_uuid(&r.try_get::<String, _>("sku_id")?)?)).collect()
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
        let mut tx = self.dir_write(tenant).await?;
        lock_licenses(&mut tx, tenant).await?;
        let updated = touch_group(&mut tx, tenant, group, now).await?;
        let has: HashSet<Uuid> =
            skus_of(&mut tx, "SELECT sku_id FROM group_licenses WHERE tenant_id = $1 AND group_id = $2", tenant, group)
                .await?
                .into_iter()
                .collect();
        check_removals(&has, remove)?;
        let subscribed: HashSet<Uuid> =
            skus_of(&mut tx, "SELECT sku_id FROM subscribed_skus WHERE tenant_id = $1 AND $2 <> ''", tenant, group)
                .await?
                .into_iter()
                .collect();
        if let Some(sku) = add.iter().find(|s| !subscribed.contains(s)) {
            return Err(DirError::UnknownSku(*sku));
        }
        write_license_rows(&mut tx, tenant, LicenseHolder::Group(group), &has, add, remove, now).await?;
        let members = transitive_user_members(&mut tx, tenant, group).await?;
        reprocess_users(&mut tx, tenant, &members, now).await?;
        let (before, after) = license_sets(&has, add, remove);
        if before != after {
            audit_change(&mut tx, tenant, audit, now, DirChange::GroupLicenses { group: &updated, before, after }).await?;
        }
        tx.commit().await?;
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

// ----- the materialised licence state (schema v12) -----
//
// `user_licenses` holds one row per (user, SKU) the user is assigned, directly or through a
// (transitively) licensed group: `Active` when it holds a seat, `CountViolation` when none was
// free when it was processed. `subscribed_skus.consumed_units` counts the `Active` rows. Every
// write that can change a user's assignments reprocesses the users it touches, in its own
// transaction ([`reprocess_users`]): the cost is bounded by those users, not the tenant.
// Bulk writers (import, seed) and databases from before v12 compute it once ([`rebuild_licences`]).

/// Seat state of a user's SKU.
const ACTIVE: &str = "Active";
const COUNT_VIOLATION: &str = "CountViolation";

/// Users who are (transitively) members of `group`, whether or not `group` itself is deleted,
/// ordered by when their direct membership was added (earliest first).
pub(super) async fn transitive_user_members(conn: &mut AnyConnection, tenant: Uuid, group: Uuid) -> DirResult<Vec<Uuid>> {
    let rows = sqlx::query(
        "WITH RECURSIVE sub(group_id) AS ( \
           SELECT $2 \
           UNION \
           SELECT gm.member_id FROM sub CROSS JOIN group_members gm CROSS JOIN directory_groups g \
            WHERE gm.tenant_id = $1 AND gm.group_id = sub.group_id AND gm.member_type = 'Group' \
              AND g.tenant_id = gm.tenant_id AND g.id = gm.member_id AND g.deleted_at IS NULL) \
         SELECT gm.member_id, MIN(gm.added_at) AS added FROM sub CROSS JOIN group_members gm \
          WHERE gm.tenant_id = $1 AND gm.group_id = sub.group_id AND gm.member_type = 'User' \
          GROUP BY gm.member_id ORDER BY added, gm.member_id",
    )
    .bind(tenant.to_string())
    .bind(group.to_string())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| Ok(parse_uuid(&r.try_get::<String, _>("member_id")?)?)).collect()
}

/// A membership of `group` changed (`member` of `kind` added or removed, or the group deleted
/// or restored): reprocess the users it reaches.
pub(super) async fn on_membership_change(
    conn: &mut AnyConnection,
    tenant: Uuid,
    member: Uuid,
    kind: PrincipalKind,
    now: i64,
) -> DirResult<()> {
    let users = match kind {
        PrincipalKind::User => vec![member],
        PrincipalKind::Group => transitive_user_members(conn, tenant, member).await?,
        PrincipalKind::App => return Ok(()),
    };
    reprocess_users(conn, tenant, &users, now).await
}

/// Bring each user's licence rows in line with their assignments. New assignments take a
/// free seat or wait in `CountViolation`; waiting ones take a seat if one is free now; ones no
/// longer assigned (or of a deleted user) are dropped and free their seat.
pub(super) async fn reprocess_users(conn: &mut AnyConnection, tenant: Uuid, users: &[Uuid], now: i64) -> DirResult<()> {
    let t = tenant.to_string();
    for user in users {
        let u = user.to_string();
        let active = sqlx::query("SELECT 1 AS x FROM users WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL")
            .bind(&t)
            .bind(&u)
            .fetch_optional(&mut *conn)
            .await?
            .is_some();
        // sku → (direct since, groups)
        let mut wanted: BTreeMap<Uuid, (Option<i64>, Vec<Uuid>)> = BTreeMap::new();
        if active {
            for r in sqlx::query(
                "SELECT a.sku_id, a.assigned_at FROM license_assignments a JOIN subscribed_skus s ON s.tenant_id = a.tenant_id \
                 AND s.sku_id = a.sku_id WHERE a.tenant_id = $1 AND a.user_id = $2",
            )
            .bind(&t)
            .bind(&u)
            .fetch_all(&mut *conn)
            .await?
            {
                wanted.entry(parse_uuid(&r.try_get::<String, _>("sku_id")?)?).or_default().0 = Some(r.try_get("assigned_at")?);
            }
            let sql = format!(
                "{} SELECT l.group_id, l.sku_id FROM group_licenses l JOIN subscribed_skus s ON s.tenant_id = l.tenant_id \
                 AND s.sku_id = l.sku_id WHERE l.tenant_id = $1 AND l.group_id IN (SELECT group_id FROM memberships) \
                 ORDER BY l.group_id",
                MEMBERSHIPS_CTE.replace("$3", "$2")
            );
            for r in sqlx::query(&sql).bind(&t).bind(&u).fetch_all(&mut *conn).await? {
                let sku = parse_uuid(&r.try_get::<String, _>("sku_id")?)?;
                wanted.entry(sku).or_default().1.push(parse_uuid(&r.try_get::<String, _>("group_id")?)?);
            }
        }
        let mut held: HashMap<Uuid, String> = HashMap::new();
        for r in sqlx::query("SELECT sku_id, state FROM user_licenses WHERE tenant_id = $1 AND user_id = $2")
            .bind(&t)
            .bind(&u)
            .fetch_all(&mut *conn)
            .await?
        {
            held.insert(parse_uuid(&r.try_get::<String, _>("sku_id")?)?, r.try_get("state")?);
        }
        for (sku, state) in &held {
            if !wanted.contains_key(sku) {
                link_query("DELETE FROM user_licenses WHERE tenant_id = $1 AND user_id = $2 AND sku_id = $3", tenant, *user, *sku)
                    .execute(&mut *conn)
                    .await?;
                if state == ACTIVE {
                    move_seats(conn, tenant, *sku, -1).await?;
                }
            }
        }
        for (sku, (direct, groups)) in &wanted {
            let via = groups.iter().map(Uuid::to_string).collect::<Vec<_>>().join(",");
            let state = match held.get(sku).map(String::as_str) {
                Some(ACTIVE) => ACTIVE,
                _ if seat_free(conn, tenant, *sku).await? => {
                    move_seats(conn, tenant, *sku, 1).await?;
                    ACTIVE
                }
                _ => COUNT_VIOLATION,
            };
            let since = direct.unwrap_or(now);
            if held.contains_key(sku) {
                let keep_since = held.get(sku).map(String::as_str) == Some(ACTIVE);
                sqlx::query(
                    "UPDATE user_licenses SET direct = $4, via_groups = $5, state = $6, since = CASE WHEN $7 = 1 THEN since ELSE $8 END \
                     WHERE tenant_id = $1 AND user_id = $2 AND sku_id = $3",
                )
                .bind(&t)
                .bind(&u)
                .bind(sku.to_string())
                .bind(direct.is_some() as i64)
                .bind(&via)
                .bind(state)
                .bind(keep_since as i64)
                .bind(since)
                .execute(&mut *conn)
                .await?;
            } else {
                sqlx::query(
                    "INSERT INTO user_licenses (tenant_id, user_id, sku_id, direct, via_groups, since, state) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&t)
                .bind(&u)
                .bind(sku.to_string())
                .bind(direct.is_some() as i64)
                .bind(&via)
                .bind(since)
                .bind(state)
                .execute(&mut *conn)
                .await?;
            }
        }
    }
    Ok(())
}

async fn seat_free(conn: &mut AnyConnection, tenant: Uuid, sku: Uuid) -> DirResult<bool> {
    let row = sqlx::query("SELECT prepaid_enabled, consumed_units FROM subscribed_skus WHERE tenant_id = $1 AND sku_id = $2")
        .bind(tenant.to_string())
        .bind(sku.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    Ok(match row {
        Some(r) => r.try_get::<i64, _>("consumed_units")? < r.try_get::<i64, _>("prepaid_enabled")?,
        None => false,
    })
}

async fn move_seats(conn: &mut AnyConnection, tenant: Uuid, sku: Uuid, by: i64) -> DirResult<()> {
    sqlx::query("UPDATE subscribed_skus SET consumed_units = consumed_units + $3 WHERE tenant_id = $1 AND sku_id = $2")
        .bind(tenant.to_string())
        .bind(sku.to_string())
        .bind(by)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Compute a tenant's licence state from its assignments in one go (`LicenseFacts::allocate`:
/// direct first, then group members earliest first), for bulk writers and databases migrated to
/// v12. Runs on the caller's transaction.
pub async fn rebuild_licences(conn: &mut AnyConnection, tenant: Uuid) -> Result<(), StoreError> {
    let facts = load_license_facts(conn, tenant).await.map_err(|e| match e {
        DirError::Store(s) => s,
        other => StoreError::Corrupt(other.to_string()),
    })?;
    let alloc = facts.allocate();
    let t = tenant.to_string();
    sqlx::query("DELETE FROM user_licenses WHERE tenant_id = $1").bind(&t).execute(&mut *conn).await?;
    let mut rows: Vec<(Uuid, Uuid, bool, String, i64, &str)> = alloc
        .held
        .iter()
        .map(|((u, s), l)| {
            let via = l.via_groups.iter().map(Uuid::to_string).collect::<Vec<_>>().join(",");
            (*u, *s, l.direct, via, l.since, ACTIVE)
        })
        .collect();
    rows.extend(alloc.count_violations.iter().map(|(u, s)| (*u, *s, false, String::new(), 0, COUNT_VIOLATION)));
    for chunk in rows.chunks(200) {
        let mut q = super::query::ListSql::default();
        let values: Vec<String> = chunk
            .iter()
            .map(|(u, s, d, via, since, state)| {
                format!(
                    "({}, {}, {}, {}, {}, {}, {})",
                    q.text(t.clone()),
                    q.text(u.to_string()),
                    q.text(s.to_string()),
                    q.int(*d as i64),
                    q.text(via.clone()),
                    q.int(*since),
                    q.text(state.to_string())
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO user_licenses (tenant_id, user_id, sku_id, direct, via_groups, since, state) VALUES {}",
            values.join(", ")
        );
        q.query(&sql).execute(&mut *conn).await?;
    }
    sqlx::query(
        "UPDATE subscribed_skus SET consumed_units = (SELECT COUNT(*) FROM user_licenses l WHERE l.tenant_id = subscribed_skus.tenant_id \
         AND l.sku_id = subscribed_skus.sku_id AND l.state = 'Active') WHERE tenant_id = $1",
    )
    .bind(&t)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE tenants SET licences_built = 1 WHERE id = $1").bind(&t).execute(&mut *conn).await?;
    Ok(())
}

/// Read `user_licenses` rows (with the SKU's part number) into licenses.
fn licenses_from_rows(rows: &[AnyRow]) -> DirResult<HashMap<Uuid, Vec<UserLicense>>> {
    let mut out: HashMap<Uuid, Vec<UserLicense>> = HashMap::new();
    for r in rows {
        let via: String = r.try_get("via_groups")?;
        let license = UserLicense {
            sku_id: parse_uuid(&r.try_get::<String, _>("sku_id")?)?,
            part_number: r.try_get("sku_part_number")?,
            direct: r.try_get::<i64, _>("direct")? != 0,
            via_groups: via.split(',').filter(|s| !s.is_empty()).map(parse_uuid).collect::<Result<_, _>>()?,
            since: r.try_get("since")?,
        };
        out.entry(parse_uuid(&r.try_get::<String, _>("user_id")?)?).or_default().push(license);
    }
    for v in out.values_mut() {
        v.sort_by(|a, b| a.part_number.cmp(&b.part_number).then(a.sku_id.cmp(&b.sku_id)));
    }
    Ok(out)
}

const LICENSE_ROWS: &str = "SELECT l.user_id, l.sku_id, l.direct, l.via_groups, l.since, s.sku_part_number FROM user_licenses l \
     JOIN subscribed_skus s ON s.tenant_id = l.tenant_id AND s.sku_id = l.sku_id WHERE l.tenant_id = $1 AND l.state = 'Active'";
