//! `GET /auditLogs/directoryAudits`: the directory changes pbi-access records (Entra ID's audit
//! activities: group membership, account state, deletion and restore, licenses), always served
//! here whatever `audit.entra_events_in_activity_log` says about Power BI's activity log.
//!
//! Newest first; `$filter` on `activityDateTime` (`ge`, `le`, `eq`) and `activityDisplayName`
//! (`eq`) joined by `and`; `$top` 1–999 (default 100); `@odata.nextLink` resumes after the last
//! event served (keyset on time and id). An application needs the `AuditLog.Read.All`
//! application permission; a person, the Global Administrator role.

use axum::extract::State;
use axum::Json;
use chrono::DateTime;
use serde_json::{json, Value};

use super::error::GraphError;
use super::extract::{GraphCaller, GraphQuery};
use super::{base_url, odata, rfc3339};
use crate::api::powerbi::activity::DIRECTORY_ACTIVITIES;
use crate::app::AppState;
use crate::domain::{CallerKind, DirectoryRole};
use crate::store::{EntraAuditEvent, EntraAuditQuery};

/// The parsed `$filter`: a time window and activity names.
#[derive(Debug, Clone, PartialEq)]
struct AuditFilter {
    from: i64,
    to: i64,
    activity: Option<String>,
}

fn invalid(clause: &str) -> GraphError {
    GraphError::odata(format!("Invalid filter clause: '{clause}'. Supported: activityDateTime ge|le|eq <dateTimeOffset>, activityDisplayName eq '<name>', joined by 'and'."))
}

fn parse_time(clause: &str, text: &str) -> Result<i64, GraphError> {
    let text = text.trim_matches('\'');
    let parsed = DateTime::parse_from_rfc3339(text).map(|t| t.timestamp_millis()).or_else(|_| {
        chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc().timestamp_millis())
    });
    parsed.map_err(|_| invalid(clause))
}

/// `activityDateTime ge 2026-01-01T00:00:00Z and activityDisplayName eq 'Delete user'`.
fn parse_filter(text: &str) -> Result<AuditFilter, GraphError> {
    if text.len() > 2048 || text.chars().any(char::is_control) {
        return Err(GraphError::odata("Invalid filter clause: the filter is too long or contains control characters."));
    }
    let mut filter = AuditFilter { from: i64::MIN, to: i64::MAX, activity: None };
    // Split on ` and ` outside string literals.
    let mut clauses = Vec::new();
    let (mut start, mut quoted) = (0, false);
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\'' {
            quoted = !quoted;
        } else if !quoted && text[i..].len() >= 5 && text[i..i + 5].eq_ignore_ascii_case(" and ") {
            clauses.push(&text[start..i]);
            start = i + 5;
            i += 5;
            continue;
        }
        i += 1;
    }
    clauses.push(&text[start..]);
    for clause in clauses {
        let clause = clause.trim();
        let mut parts = clause.splitn(3, ' ');
        let (field, op, value) = match (parts.next(), parts.next(), parts.next()) {
            (Some(f), Some(o), Some(v)) => (f, o.to_ascii_lowercase(), v.trim()),
            _ => return Err(invalid(clause)),
        };
        match (field, op.as_str()) {
            ("activityDateTime", "ge") => filter.from = filter.from.max(parse_time(clause, value)?),
            ("activityDateTime", "le") => filter.to = filter.to.min(parse_time(clause, value)?),
            ("activityDateTime", "eq") => {
                let t = parse_time(clause, value)?;
                filter.from = filter.from.max(t);
                filter.to = filter.to.min(t);
            }
            ("activityDisplayName", "eq") => {
                let inner =
                    value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')).filter(|v| !v.is_empty()).ok_or_else(|| invalid(clause))?;
                if inner.replace("''", "").contains('\'') {
                    return Err(invalid(clause));
                }
                filter.activity = Some(inner.replace("''", "'"));
            }
            _ => return Err(invalid(clause)),
        }
    }
    Ok(filter)
}

/// Entra's category of an activity.
fn category(activity: &str) -> &'static str {
    match activity {
        "Add member to group" | "Remove member from group" | "Delete group" | "Set group license" => "GroupManagement",
        _ => "UserManagement",
    }
}

/// Entra's `operationType` of an activity.
fn operation_type(activity: &str) -> &'static str {
    match activity {
        "Add member to group" => "Assign",
        "Remove member from group" => "Unassign",
        "Delete group" | "Delete user" => "Delete",
        _ => "Update",
    }
}

fn audit_json(e: &EntraAuditEvent) -> Value {
    let initiated_by = if e.user_type == 6 {
        json!({ "user": null, "app": { "appId": null, "displayName": (e.user_id == crate::api::powerbi::activity::SCIM_USER_ID).then_some(e.user_id.as_str()), "servicePrincipalId": e.user_key, "servicePrincipalName": null } })
    } else {
        json!({ "user": { "id": e.user_key, "displayName": null, "userPrincipalName": e.user_id, "ipAddress": null, "userType": "Member", "homeTenantId": null, "homeTenantName": null }, "app": null })
    };
    let upn = e.targets.iter().find(|(_, t)| t == "UPN").map(|(id, _)| id.clone());
    let modified: Vec<Value> =
        e.modified.iter().map(|(name, old, new)| json!({ "displayName": name, "oldValue": old, "newValue": new })).collect();
    let targets: Vec<Value> = e
        .targets
        .iter()
        .filter(|(_, t)| t != "UPN")
        .enumerate()
        .map(|(i, (id, kind))| {
            json!({
                "id": id,
                "displayName": null,
                "type": kind,
                "userPrincipalName": if kind == "User" { upn.clone() } else { None },
                "groupType": null,
                "modifiedProperties": if i == 0 { modified.clone() } else { Vec::new() },
            })
        })
        .collect();
    let correlation = e.request_id.as_deref().and_then(|r| uuid::Uuid::parse_str(r).ok()).unwrap_or(e.id);
    let details: Vec<Value> = e.user_agent.iter().map(|a| json!({ "key": "User-Agent", "value": a })).collect();
    json!({
        "id": format!("Directory_{}", e.id),
        "category": category(&e.activity),
        "correlationId": correlation,
        "result": "success",
        "resultReason": "",
        "activityDisplayName": e.activity,
        "activityDateTime": rfc3339(e.time),
        "loggedByService": "Core Directory",
        "operationType": operation_type(&e.activity),
        "initiatedBy": initiated_by,
        "targetResources": targets,
        "additionalDetails": details,
    })
}

/// `GET /auditLogs/directoryAudits`.
pub async fn list(State(state): State<AppState>, GraphCaller(caller): GraphCaller, query: GraphQuery) -> Result<Json<Value>, GraphError> {
    let allowed = match caller.kind {
        CallerKind::App { app_id } => state
            .store
            .app_registration(caller.tenant_id, app_id)
            .await?
            .is_some_and(|(_, r)| r.graph_roles().iter().any(|g| g.eq_ignore_ascii_case("AuditLog.Read.All"))),
        CallerKind::User { .. } => {
            state.store.directory_roles(caller.tenant_id, caller.object_id).await?.contains(&DirectoryRole::GlobalAdministrator)
        }
    };
    if !allowed {
        return Err(GraphError::denied());
    }
    let filter = match query.get("$filter") {
        Some(f) => parse_filter(f)?,
        None => AuditFilter { from: i64::MIN, to: i64::MAX, activity: None },
    };
    let top = odata::parse_top(&query)?;
    let before = match query.get("$skiptoken") {
        None => None,
        Some(token) => {
            let key = odata::decode_key(token).ok_or_else(|| GraphError::odata("The $skiptoken is not valid."))?;
            let (time, id) = key.split_once('|').ok_or_else(|| GraphError::odata("The $skiptoken is not valid."))?;
            Some((time.parse::<i64>().map_err(|_| GraphError::odata("The $skiptoken is not valid."))?, id.to_string()))
        }
    };
    let activities: Vec<String> = match &filter.activity {
        Some(a) => DIRECTORY_ACTIVITIES.iter().filter(|d| d.eq_ignore_ascii_case(a)).map(|d| d.to_string()).collect(),
        None => DIRECTORY_ACTIVITIES.iter().map(|d| d.to_string()).collect(),
    };
    let request = EntraAuditQuery { from: filter.from, to: filter.to, activities: &activities, before, limit: top as u32 + 1 };
    let mut events = state.store.list_entra_audit_events(caller.tenant_id, &request).await?;
    let more = events.len() > top;
    events.truncate(top);
    let base = base_url(&state);
    let mut body = serde_json::Map::new();
    body.insert("@odata.context".into(), json!(format!("{base}/$metadata#auditLogs/directoryAudits")));
    if let Some(last) = events.last().filter(|_| more) {
        let mut parts = Vec::new();
        if let Some(f) = query.get("$filter") {
            parts.push(format!("$filter={}", percent_encoding::utf8_percent_encode(f, percent_encoding::NON_ALPHANUMERIC)));
        }
        parts.push(format!("$top={top}"));
        parts.push(format!("$skiptoken={}", odata::encode_key(&format!("{}|{}", last.time, last.id))));
        body.insert("@odata.nextLink".into(), json!(format!("{base}/auditLogs/directoryAudits?{}", parts.join("&"))));
    }
    body.insert("value".into(), Value::Array(events.iter().map(audit_json).collect()));
    Ok(Json(Value::Object(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_read_windows_and_names_and_refuse_the_rest() {
        let f = parse_filter(
            "activityDateTime ge 2026-01-01T00:00:00Z and activityDateTime le 2026-01-02 and activityDisplayName eq 'Delete user'",
        )
        .unwrap();
        assert_eq!(f.activity.as_deref(), Some("Delete user"));
        assert!(f.from < f.to);
        for bad in [
            "category eq 'x'",
            "activityDateTime gt 2026-01-01",
            "activityDateTime ge yesterday",
            "activityDisplayName eq x",
            "activityDisplayName",
            "activityDisplayName eq 'a' or id eq 'b'",
        ] {
            assert!(parse_filter(bad).is_err(), "{bad}");
        }
    }
}
