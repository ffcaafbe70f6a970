//! Directory list queries in SQL, generic over the resource: a [`DirFilter`] compiles, through
//! the resource's column table ([`Columns`]: attribute → indexed column), into a parameterised
//! condition; [`ListSql`] adds the tenant, the keyset or position and the limit.
//!
//! Text comparisons are case-insensitive: a `Lowered` column already holds the lowercase value
//! (`upn_lower`), a `LowerExpr` column is compared as `lower(column)` (an expression index).
//! `startswith` is a range on the index (`>= prefix`, `< prefix || U+10FFFF`) plus an exact
//! check of the prefix (`substr`), so it reads only the rows it returns.

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::Any;

use super::{DirError, DirResult};
use crate::domain::dirquery::{DirFilter, Lit};

/// How an attribute is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// Text kept lowercase in its own column (compared with the lowercased literal).
    Lowered(&'static str),
    /// Text compared through `lower(column)`, which an expression index covers.
    LowerExpr(&'static str),
    /// Case-exact text.
    Exact(&'static str),
    /// A lowercase UUID.
    Id(&'static str),
    /// 0/1.
    Bool(&'static str),
}

/// A resource's filterable attributes and their columns.
pub type Columns = &'static [(&'static str, Column)];

/// The table a condition is over: an `or` becomes `key IN (SELECT key … UNION SELECT key …)`,
/// so that each branch is answered from its own index (SQLite does not combine expression
/// indexes under `OR`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scope<'a> {
    pub table: &'static str,
    pub key: &'static str,
    /// The placeholder bound to the tenant id.
    pub tenant: &'a str,
    pub columns: Columns,
}

/// The `ORDER BY` of a keyset page in `key` order. With no filter, or a filter of equalities on
/// low-cardinality columns (booleans, `userType`: indexes ending in the key), the index gives
/// the order and a page reads only its rows. Otherwise the key is wrapped (`key || ''`) so the
/// planner picks the filter's selective index and sorts the few matches, instead of walking the
/// key's index over the whole tenant. The keyset condition (`> after`) must use the same
/// expression.
pub(crate) fn order_by(key: &str, filter: Option<&DirFilter>, columns: Columns) -> String {
    fn low_cardinality(f: &DirFilter, columns: Columns) -> bool {
        match f {
            DirFilter::And(a, b) => low_cardinality(a, columns) && low_cardinality(b, columns),
            DirFilter::Eq(attr, _) => {
                matches!(columns.iter().find(|(a, _)| a == attr).map(|(_, c)| *c), Some(Column::Bool(_))) || *attr == "userType"
            }
            _ => false,
        }
    }
    match filter {
        Some(f) if !low_cardinality(f, columns) => format!("({key} || '')"),
        _ => key.to_string(),
    }
}

/// A bound parameter.
#[derive(Debug, Clone)]
pub(crate) enum Bind {
    Text(String),
    Int(i64),
}

/// A statement under construction: its text and its parameters, in order (`$1`, `$2`, …).
#[derive(Debug, Default)]
pub(crate) struct ListSql {
    pub binds: Vec<Bind>,
}

impl ListSql {
    /// A new parameter; returns its placeholder.
    pub fn bind(&mut self, b: Bind) -> String {
        self.binds.push(b);
        format!("${}", self.binds.len())
    }

    pub fn text(&mut self, s: impl Into<String>) -> String {
        self.bind(Bind::Text(s.into()))
    }

    pub fn int(&mut self, i: i64) -> String {
        self.bind(Bind::Int(i))
    }

    /// `sql` with this statement's parameters bound.
    pub fn query<'q>(&self, sql: &'q str) -> Query<'q, Any, AnyArguments<'q>> {
        let mut q = sqlx::query(sql);
        for b in &self.binds {
            q = match b {
                Bind::Text(s) => q.bind(s.clone()),
                Bind::Int(i) => q.bind(*i),
            };
        }
        q
    }

    /// The condition `filter` stands for, over `columns`.
    pub fn condition(&mut self, filter: &DirFilter, scope: Scope<'_>) -> DirResult<String> {
        let columns = scope.columns;
        let column = |attr: &str| {
            columns
                .iter()
                .find(|(a, _)| *a == attr)
                .map(|(_, c)| *c)
                .ok_or_else(|| DirError::Invalid(format!("the attribute '{attr}' cannot be filtered on")))
        };
        Ok(match filter {
            DirFilter::And(a, b) => format!("({} AND {})", self.condition(a, scope)?, self.condition(b, scope)?),
            DirFilter::Or(a, b) => {
                let (a, b) = (self.condition(a, scope)?, self.condition(b, scope)?);
                let Scope { table, key, tenant, .. } = scope;
                format!(
                    "{key} IN (SELECT {key} FROM {table} WHERE tenant_id = {tenant} AND {a} UNION SELECT {key} FROM {table} WHERE tenant_id = {tenant} AND {b})"
                )
            }
            DirFilter::Eq(attr, Lit::Null) => format!("{} IS NULL", name(column(attr)?)),
            DirFilter::Eq(attr, lit) => {
                let c = column(attr)?;
                let p = self.literal(c, lit, attr)?;
                format!("{} = {p}", lhs(c))
            }
            DirFilter::In(attr, lits) => {
                let c = column(attr)?;
                let ps = lits.iter().map(|l| self.literal(c, l, attr)).collect::<DirResult<Vec<_>>>()?;
                if ps.is_empty() {
                    "1 = 0".to_string()
                } else {
                    format!("{} IN ({})", lhs(c), ps.join(", "))
                }
            }
            DirFilter::StartsWith(attr, prefix) => {
                let c = column(attr)?;
                if prefix.is_empty() {
                    return Ok(format!("{} IS NOT NULL", name(c)));
                }
                let p = match c {
                    Column::Bool(_) => return Err(DirError::Invalid(format!("startswith does not apply to '{attr}'"))),
                    Column::LowerExpr(_) => format!("lower({})", self.text(prefix.clone())),
                    Column::Lowered(_) | Column::Id(_) => self.text(prefix.to_lowercase()),
                    Column::Exact(_) => self.text(prefix.clone()),
                };
                let top = self.text("\u{10FFFF}");
                let n = self.int(prefix.chars().count() as i64);
                let l = lhs(c);
                format!("({l} >= {p} AND {l} < ({p} || {top}) AND substr({l}, 1, CAST({n} AS INTEGER)) = {p})")
            }
        })
    }

    fn literal(&mut self, c: Column, lit: &Lit, attr: &str) -> DirResult<String> {
        Ok(match (c, lit) {
            (Column::Bool(_), Lit::Bool(b)) => self.int(*b as i64),
            (Column::Lowered(_) | Column::Id(_), Lit::Text(s)) => self.text(s.to_lowercase()),
            (Column::LowerExpr(_), Lit::Text(s)) => format!("lower({})", self.text(s.clone())),
            (Column::Exact(_), Lit::Text(s)) => self.text(s.clone()),
            _ => return Err(DirError::Invalid(format!("the value compared with '{attr}' has the wrong type"))),
        })
    }
}

fn name(c: Column) -> &'static str {
    match c {
        Column::Lowered(n) | Column::LowerExpr(n) | Column::Exact(n) | Column::Id(n) | Column::Bool(n) => n,
    }
}

/// The indexed expression a column is compared through.
fn lhs(c: Column) -> String {
    match c {
        Column::LowerExpr(n) => format!("lower({n})"),
        other => name(other).to_string(),
    }
}

/// How many active (not deleted) rows of the tenant in `scope`'s table match `filter`, counted
/// from the filter's indexes; with no filter, the tenant's kept count. `scope` is the
/// resource's scope for the tenant placeholder it is given.
pub(super) async fn count_active(
    pool: &sqlx::AnyPool,
    tenant: uuid::Uuid,
    filter: Option<&DirFilter>,
    scope: for<'a> fn(&'a str) -> Scope<'a>,
    kept: Kept,
) -> DirResult<i64> {
    use sqlx::Row;
    let Some(filter) = filter else { return kept_count(pool, tenant, kept).await };
    let mut q = ListSql::default();
    let t = q.text(tenant.to_string());
    let mut sql = format!("SELECT COUNT(*) AS n FROM {} WHERE tenant_id = {t} AND deleted_at IS NULL", scope(&t).table);
    sql += &format!(" AND {}", q.condition(filter, scope(&t))?);
    Ok(q.query(&sql).fetch_one(pool).await?.try_get("n")?)
}

/// A tenant's kept count of active objects (schema v13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kept {
    Users,
    Groups,
}

impl Kept {
    fn column(self) -> &'static str {
        match self {
            Kept::Users => "active_users",
            Kept::Groups => "active_groups",
        }
    }
}

/// Move a tenant's kept count by `delta`, inside the write that creates, deletes or restores.
pub(crate) async fn adjust_kept(
    conn: &mut sqlx::AnyConnection,
    tenant: uuid::Uuid,
    kept: Kept,
    delta: i64,
) -> Result<(), crate::store::StoreError> {
    let c = kept.column();
    sqlx::query(&format!("UPDATE tenants SET {c} = {c} + $2 WHERE id = $1")).bind(tenant.to_string()).bind(delta).execute(conn).await?;
    Ok(())
}

/// A tenant's kept count (0 for an unknown tenant).
pub(crate) async fn kept_count(pool: &sqlx::AnyPool, tenant: uuid::Uuid, kept: Kept) -> DirResult<i64> {
    use sqlx::Row;
    let sql = format!("SELECT {} AS n FROM tenants WHERE id = $1", kept.column());
    let row = sqlx::query(&sql).bind(tenant.to_string()).fetch_optional(pool).await?;
    Ok(row.map(|r| r.try_get::<i64, _>("n")).transpose()?.unwrap_or(0))
}
