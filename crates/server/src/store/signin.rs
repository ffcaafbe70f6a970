//! The sign-in flows' rows: application registrations (on `service_principals`), authorization
//! codes, device codes and refresh-token families (schema v13). Codes and tokens are found by
//! their hash; every "use once" is a conditional `UPDATE … WHERE … IS NULL`, so two instances
//! redeeming the same code at once cannot both win.

use sqlx::{Any, Executor, Row};
use uuid::Uuid;

use super::{parse_enum, parse_uuid, Store, StoreError, StoreResult};
use crate::domain::signin::{AppRegistration, ClientType};
use crate::domain::ServicePrincipal;

/// An authorization code as stored (its hash is the key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthCode {
    pub tenant: Uuid,
    pub client_id: Uuid,
    pub user: Uuid,
    pub redirect_uri: String,
    pub scope: String,
    /// The S256 challenge, when the request sent one.
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
    /// The refresh-token family the code's tokens start.
    pub family: Uuid,
    pub created_at: i64,
    pub expires_at: i64,
}

/// What presenting an authorization code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeRedemption {
    /// First use: the code is now spent.
    Redeemed(AuthCode),
    /// Presented before: its refresh-token family has just been revoked.
    AlreadyRedeemed(AuthCode),
    Unknown,
}

/// A device authorization as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCode {
    pub tenant: Uuid,
    pub client_id: Uuid,
    pub user_code: String,
    pub scope: String,
    pub interval_secs: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_polled_at: Option<i64>,
    /// Who approved it, once someone has.
    pub user: Option<Uuid>,
    pub redeemed_at: Option<i64>,
}

/// One poll of a device code: the row as it was before, and what this poll did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevicePoll {
    pub code: DeviceCode,
    /// Polled sooner than the interval after the previous poll.
    pub slow_down: bool,
    /// This poll spent the approved authorization.
    pub redeemed: bool,
}

/// What redeeming a refresh token's id found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshUse {
    /// First use, in a live family.
    Fresh,
    /// Used before: the family is revoked now (or was already).
    Reused,
    /// Its family was revoked (a reuse, a sign-out, a code presented twice).
    Revoked,
    /// Not issued by this store (tokens of a database wiped since, or forged ids).
    Unknown,
}

fn json_list(text: &str) -> StoreResult<Vec<String>> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("a JSON list column: {e}")))
}

fn registration_from_row(row: &sqlx::any::AnyRow) -> StoreResult<AppRegistration> {
    Ok(AppRegistration {
        redirect_uris: json_list(&row.try_get::<String, _>("redirect_uris")?)?,
        client_type: parse_enum::<ClientType>(&row.try_get::<String, _>("client_type")?)?,
        permissions: json_list(&row.try_get::<String, _>("permissions")?)?,
        app_roles: json_list(&row.try_get::<String, _>("app_roles")?)?,
    })
}

/// Write an application's registration onto its service principal row (provisioning).
pub async fn set_app_registration<'c, E: Executor<'c, Database = Any>>(
    e: E,
    tenant: Uuid,
    sp_id: Uuid,
    app: &AppRegistration,
) -> StoreResult<()> {
    let list = |v: &Vec<String>| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
    sqlx::query("UPDATE service_principals SET redirect_uris = $1, client_type = $2, permissions = $3, app_roles = $4 WHERE tenant_id = $5 AND id = $6")
        .bind(list(&app.redirect_uris))
        .bind(app.client_type.as_str())
        .bind(list(&app.permissions))
        .bind(list(&app.app_roles))
        .bind(tenant.to_string())
        .bind(sp_id.to_string())
        .execute(e)
        .await?;
    Ok(())
}

fn code_from_row(row: &sqlx::any::AnyRow) -> StoreResult<AuthCode> {
    Ok(AuthCode {
        tenant: parse_uuid(&row.try_get::<String, _>("tenant_id")?)?,
        client_id: parse_uuid(&row.try_get::<String, _>("client_id")?)?,
        user: parse_uuid(&row.try_get::<String, _>("user_id")?)?,
        redirect_uri: row.try_get("redirect_uri")?,
        scope: row.try_get("scope")?,
        code_challenge: row.try_get("code_challenge")?,
        nonce: row.try_get("nonce")?,
        family: parse_uuid(&row.try_get::<String, _>("family_id")?)?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

const CODE_COLUMNS: &str = "tenant_id, client_id, user_id, redirect_uri, scope, code_challenge, nonce, family_id, created_at, expires_at";

fn device_from_row(row: &sqlx::any::AnyRow) -> StoreResult<DeviceCode> {
    Ok(DeviceCode {
        tenant: parse_uuid(&row.try_get::<String, _>("tenant_id")?)?,
        client_id: parse_uuid(&row.try_get::<String, _>("client_id")?)?,
        user_code: row.try_get("user_code")?,
        scope: row.try_get("scope")?,
        interval_secs: row.try_get("interval_secs")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        last_polled_at: row.try_get("last_polled_at")?,
        user: row.try_get::<Option<String>, _>("user_id")?.map(|u| parse_uuid(&u)).transpose()?,
        redeemed_at: row.try_get("redeemed_at")?,
    })
}

const DEVICE_COLUMNS: &str =
    "tenant_id, client_id, user_code, scope, interval_secs, created_at, expires_at, last_polled_at, user_id, redeemed_at";

/// Expired codes are kept an hour (a late second use still reads "expired"), then deleted.
const KEEP_EXPIRED_MS: i64 = 3600 * 1000;

impl Store {
    /// An application by client id, with its registration.
    pub async fn app_registration(&self, tenant: Uuid, app_id: Uuid) -> StoreResult<Option<(ServicePrincipal, AppRegistration)>> {
        let row = sqlx::query(
            "SELECT id, app_id, display_name, redirect_uris, client_type, permissions, app_roles FROM service_principals WHERE tenant_id = $1 AND app_id = $2",
        )
        .bind(tenant.to_string())
        .bind(app_id.to_string())
        .fetch_optional(&self.read)
        .await?;
        row.map(|row| {
            let sp = ServicePrincipal {
                id: parse_uuid(&row.try_get::<String, _>("id")?)?,
                app_id: parse_uuid(&row.try_get::<String, _>("app_id")?)?,
                display_name: row.try_get("display_name")?,
            };
            Ok((sp, registration_from_row(&row)?))
        })
        .transpose()
    }

    /// Every application's registration in a tenant, by service principal object id (export).
    pub async fn app_registrations(&self, tenant: Uuid) -> StoreResult<Vec<(Uuid, AppRegistration)>> {
        let rows =
            sqlx::query("SELECT id, redirect_uris, client_type, permissions, app_roles FROM service_principals WHERE tenant_id = $1")
                .bind(tenant.to_string())
                .fetch_all(&self.read)
                .await?;
        rows.iter().map(|row| Ok((parse_uuid(&row.try_get::<String, _>("id")?)?, registration_from_row(row)?))).collect()
    }

    /// Store a new authorization code by its hash, and its refresh-token family; forget codes
    /// of the tenant that expired over an hour ago.
    pub async fn insert_auth_code(&self, code_hash: &str, code: &AuthCode) -> StoreResult<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query("DELETE FROM oauth_codes WHERE tenant_id = $1 AND expires_at < $2")
            .bind(code.tenant.to_string())
            .bind(code.created_at - KEEP_EXPIRED_MS)
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!("INSERT INTO oauth_codes (code_hash, {CODE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"))
            .bind(code_hash)
            .bind(code.tenant.to_string())
            .bind(code.client_id.to_string())
            .bind(code.user.to_string())
            .bind(&code.redirect_uri)
            .bind(&code.scope)
            .bind(code.code_challenge.as_deref())
            .bind(code.nonce.as_deref())
            .bind(code.family.to_string())
            .bind(code.created_at)
            .bind(code.expires_at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Spend an authorization code. The first caller gets it; a second presentation revokes the
    /// refresh-token family the first one started (RFC 6749 §4.1.2).
    pub async fn redeem_auth_code(&self, tenant: Uuid, code_hash: &str, now: i64) -> StoreResult<CodeRedemption> {
        let spent = sqlx::query("UPDATE oauth_codes SET redeemed_at = $1 WHERE code_hash = $2 AND tenant_id = $3 AND redeemed_at IS NULL")
            .bind(now)
            .bind(code_hash)
            .bind(tenant.to_string())
            .execute(&self.write)
            .await?
            .rows_affected();
        let row = sqlx::query(&format!("SELECT {CODE_COLUMNS} FROM oauth_codes WHERE code_hash = $1 AND tenant_id = $2"))
            .bind(code_hash)
            .bind(tenant.to_string())
            .fetch_optional(&self.write)
            .await?;
        let Some(row) = row else { return Ok(CodeRedemption::Unknown) };
        let code = code_from_row(&row)?;
        if spent == 1 {
            return Ok(CodeRedemption::Redeemed(code));
        }
        self.revoke_refresh_family(code.family, now).await?;
        Ok(CodeRedemption::AlreadyRedeemed(code))
    }

    /// Start a refresh-token family (one sign-in of a user into a client).
    pub async fn start_refresh_family(&self, family: Uuid, tenant: Uuid, user: Uuid, client_id: Uuid, now: i64) -> StoreResult<()> {
        let sql = match self.backend {
            super::Backend::Postgres => {
                "INSERT INTO refresh_families (family_id, tenant_id, user_id, client_id, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (family_id) DO NOTHING"
            }
            super::Backend::Sqlite => {
                "INSERT OR IGNORE INTO refresh_families (family_id, tenant_id, user_id, client_id, created_at) VALUES ($1, $2, $3, $4, $5)"
            }
        };
        sqlx::query(sql)
            .bind(family.to_string())
            .bind(tenant.to_string())
            .bind(user.to_string())
            .bind(client_id.to_string())
            .bind(now)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Record a refresh token (by its `uti`) as issued in a family.
    pub async fn record_refresh_token(&self, token_id: &str, family: Uuid, now: i64) -> StoreResult<()> {
        sqlx::query("INSERT INTO refresh_tokens (token_id, family_id, issued_at) VALUES ($1, $2, $3)")
            .bind(token_id)
            .bind(family.to_string())
            .bind(now)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Spend a refresh token: the first use of a token of a live family passes; a second use
    /// revokes the family, so the thief's and the owner's copies both stop working.
    pub async fn use_refresh_token(&self, token_id: &str, family: Uuid, now: i64) -> StoreResult<RefreshUse> {
        let revoked: Option<Option<i64>> = sqlx::query("SELECT revoked_at FROM refresh_families WHERE family_id = $1")
            .bind(family.to_string())
            .fetch_optional(&self.write)
            .await?
            .map(|row| row.try_get("revoked_at"))
            .transpose()?;
        match revoked {
            None => return Ok(RefreshUse::Unknown),
            Some(Some(_)) => return Ok(RefreshUse::Revoked),
            Some(None) => {}
        }
        let spent = sqlx::query("UPDATE refresh_tokens SET used_at = $1 WHERE token_id = $2 AND family_id = $3 AND used_at IS NULL")
            .bind(now)
            .bind(token_id)
            .bind(family.to_string())
            .execute(&self.write)
            .await?
            .rows_affected();
        if spent == 1 {
            return Ok(RefreshUse::Fresh);
        }
        let known = sqlx::query("SELECT 1 AS one FROM refresh_tokens WHERE token_id = $1 AND family_id = $2")
            .bind(token_id)
            .bind(family.to_string())
            .fetch_optional(&self.write)
            .await?
            .is_some();
        if !known {
            return Ok(RefreshUse::Unknown);
        }
        self.revoke_refresh_family(family, now).await?;
        Ok(RefreshUse::Reused)
    }

    /// Revoke a family: none of its refresh tokens is accepted any more.
    pub async fn revoke_refresh_family(&self, family: Uuid, now: i64) -> StoreResult<()> {
        sqlx::query("UPDATE refresh_families SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(family.to_string())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Store a new device authorization by the device code's hash; forget expired ones. The user
    /// code is unique in the tenant among live codes: a clash is a unique violation.
    pub async fn insert_device_code(&self, device_code_hash: &str, code: &DeviceCode) -> StoreResult<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query("DELETE FROM device_codes WHERE tenant_id = $1 AND expires_at < $2")
            .bind(code.tenant.to_string())
            .bind(code.created_at - KEEP_EXPIRED_MS)
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!(
            "INSERT INTO device_codes (device_code_hash, {DEVICE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(device_code_hash)
        .bind(code.tenant.to_string())
        .bind(code.client_id.to_string())
        .bind(&code.user_code)
        .bind(&code.scope)
        .bind(code.interval_secs)
        .bind(code.created_at)
        .bind(code.expires_at)
        .bind(code.last_polled_at)
        .bind(code.user.map(|u| u.to_string()))
        .bind(code.redeemed_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A device authorization by its user code (the verification page).
    pub async fn device_code_by_user_code(&self, tenant: Uuid, user_code: &str) -> StoreResult<Option<DeviceCode>> {
        let row = sqlx::query(&format!("SELECT {DEVICE_COLUMNS} FROM device_codes WHERE tenant_id = $1 AND user_code = $2"))
            .bind(tenant.to_string())
            .bind(user_code)
            .fetch_optional(&self.write)
            .await?;
        row.as_ref().map(device_from_row).transpose()
    }

    /// Approve a pending, unexpired device authorization for a user; false when it is not
    /// pending any more (approved already, expired, or unknown).
    pub async fn approve_device_code(&self, tenant: Uuid, user_code: &str, user: Uuid, now: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE device_codes SET user_id = $1, approved_at = $2 WHERE tenant_id = $3 AND user_code = $4 AND user_id IS NULL AND expires_at > $2",
        )
        .bind(user.to_string())
        .bind(now)
        .bind(tenant.to_string())
        .bind(user_code)
        .execute(&self.write)
        .await?
        .rows_affected();
        Ok(done == 1)
    }

    /// A poll of the token endpoint. Records the poll; a poll sooner than `min_gap_ms` after
    /// the previous one is `slow_down` and changes nothing else; otherwise an approved, unspent,
    /// unexpired authorization is spent by this poll.
    pub async fn poll_device_code(
        &self,
        tenant: Uuid,
        device_code_hash: &str,
        now: i64,
        min_gap_ms: i64,
    ) -> StoreResult<Option<DevicePoll>> {
        let mut tx = self.write.begin().await?;
        let row = sqlx::query(&format!(
            "SELECT {DEVICE_COLUMNS} FROM device_codes WHERE device_code_hash = $1 AND tenant_id = $2{}",
            if self.backend == super::Backend::Postgres { " FOR UPDATE" } else { "" }
        ))
        .bind(device_code_hash)
        .bind(tenant.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let code = device_from_row(&row)?;
        let slow_down = code.last_polled_at.is_some_and(|t| now - t < min_gap_ms);
        let redeemed = !slow_down && code.user.is_some() && code.redeemed_at.is_none() && code.expires_at > now;
        sqlx::query("UPDATE device_codes SET last_polled_at = $1, redeemed_at = CASE WHEN $2 = 1 THEN $1 ELSE redeemed_at END WHERE device_code_hash = $3")
            .bind(now)
            .bind(if redeemed { 1i64 } else { 0i64 })
            .bind(device_code_hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(DevicePoll { code, slow_down, redeemed }))
    }
}
