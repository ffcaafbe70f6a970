//! SCIM resources (RFC 7643) to and from the directory's users and groups, `attributes` /
//! `excludedAttributes` projection, and the discovery documents. `/Schemas` is generated from
//! the same attribute lists the conversions use, so it advertises exactly what is implemented.

use chrono::{TimeZone, Utc};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::error::ScimError;
use super::extract::etag;
use super::filter::{get_ci, key_ci, parse_attr_path, CORE_GROUP, CORE_USER, ENTERPRISE_USER};
use crate::domain::identity::{DirGroup, DirUser, GroupMemberRef};
use crate::domain::{PrincipalKind, UserType};

pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Core User string attributes kept in `extra_json` as they are.
const USER_EXTRA_STRINGS: &[&str] = &["nickName", "profileUrl", "preferredLanguage", "locale", "timezone"];
/// Core User multi-valued attributes kept in `extra_json` as they are.
const USER_EXTRA_MULTI: &[&str] = &["phoneNumbers", "addresses"];
const NAME_EXTRA: &[&str] = &["formatted", "middleName", "honorificPrefix", "honorificSuffix"];
const ENTERPRISE_EXTRA: &[&str] = &["costCenter", "organization", "division"];

/// Multi-valued attributes of both resource types (PATCH `add` appends to them).
pub const MULTI_VALUED: &[&str] = &["emails", "phoneNumbers", "addresses", "groups", "members"];

pub fn rfc3339(millis: i64) -> String {
    Utc.timestamp_millis_opt(millis).single().unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn meta(resource_type: &str, created: i64, modified: i64, location: String, version: i64) -> Value {
    json!({
        "resourceType": resource_type,
        "created": rfc3339(created),
        "lastModified": rfc3339(modified),
        "location": location,
        "version": etag(version),
    })
}

/// A user as a SCIM resource. `base` is `{public_url}/{tenant}/scim/v2`.
pub fn user_to_scim(u: &DirUser, groups: &[(Uuid, String)], base: &str) -> Map<String, Value> {
    let mut r = Map::new();
    r.insert("schemas".into(), json!([CORE_USER, ENTERPRISE_USER]));
    r.insert("id".into(), json!(u.id.to_string()));
    if let Some(x) = &u.external_id {
        r.insert("externalId".into(), json!(x));
    }
    r.insert("userName".into(), json!(u.upn));
    let mut name = match u.extra.get("name") {
        Some(Value::Object(o)) => o.clone(),
        _ => Map::new(),
    };
    if let Some(g) = &u.given_name {
        name.insert("givenName".into(), json!(g));
    }
    if let Some(s) = &u.surname {
        name.insert("familyName".into(), json!(s));
    }
    if !name.is_empty() {
        r.insert("name".into(), Value::Object(name));
    }
    r.insert("displayName".into(), json!(u.display_name));
    for key in USER_EXTRA_STRINGS {
        if let Some(v) = u.extra.get(*key) {
            r.insert((*key).into(), v.clone());
        }
    }
    if let Some(t) = &u.job_title {
        r.insert("title".into(), json!(t));
    }
    r.insert("userType".into(), json!(u.user_type.as_str()));
    r.insert("active".into(), json!(u.account_enabled));
    let mut emails: Vec<Value> = Vec::new();
    if let Some(m) = &u.mail {
        emails.push(json!({"value": m, "type": "work", "primary": true}));
    }
    if let Some(Value::Array(others)) = u.extra.get("emails") {
        emails.extend(others.iter().cloned());
    }
    if !emails.is_empty() {
        r.insert("emails".into(), Value::Array(emails));
    }
    for key in USER_EXTRA_MULTI {
        if let Some(v) = u.extra.get(*key) {
            r.insert((*key).into(), v.clone());
        }
    }
    if !groups.is_empty() {
        let gs: Vec<Value> = groups
            .iter()
            .map(|(id, name)| json!({"value": id.to_string(), "display": name, "$ref": format!("{base}/Groups/{id}"), "type": "direct"}))
            .collect();
        r.insert("groups".into(), Value::Array(gs));
    }
    let mut ent = match u.extra.get(ENTERPRISE_USER) {
        Some(Value::Object(o)) => o.clone(),
        _ => Map::new(),
    };
    if let Some(n) = &u.employee_number {
        ent.insert("employeeNumber".into(), json!(n));
    }
    if let Some(d) = &u.department {
        ent.insert("department".into(), json!(d));
    }
    if !ent.is_empty() {
        r.insert(ENTERPRISE_USER.into(), Value::Object(ent));
    }
    r.insert("meta".into(), meta("User", u.created_at, u.last_modified(), format!("{base}/Users/{}", u.id), u.version));
    r
}

fn opt_string(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, ScimError> {
    match get_ci(obj, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(ScimError::invalid_value(format!("'{key}' must be a string, not {other}"))),
    }
}

fn opt_object<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<Option<&'a Map<String, Value>>, ScimError> {
    match get_ci(obj, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(other) => Err(ScimError::invalid_value(format!("'{key}' must be a complex attribute (an object), not {other}"))),
    }
}

fn opt_array<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<Option<&'a Vec<Value>>, ScimError> {
    match get_ci(obj, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => {
            if a.iter().any(|e| !e.is_object()) {
                return Err(ScimError::invalid_value(format!("'{key}' must be an array of objects")));
            }
            Ok(Some(a))
        }
        Some(other) => Err(ScimError::invalid_value(format!("'{key}' must be a multi-valued attribute (an array), not {other}"))),
    }
}

/// SCIM booleans, also as the strings `"True"`/`"False"` Entra ID sends.
pub fn scim_bool(v: &Value, key: &str) -> Result<bool, ScimError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(ScimError::invalid_value(format!("'{key}' must be a boolean, not {other}"))),
    }
}

/// Replace every attribute of `u` SCIM manages with what `doc` says (absent = cleared), as a
/// PUT does; PATCH renders, edits and comes back through here. Returns a `password` if given.
pub fn apply_user_json(doc: &Map<String, Value>, u: &mut DirUser) -> Result<Option<String>, ScimError> {
    u.upn = opt_string(doc, "userName")?.ok_or_else(|| ScimError::invalid_value("'userName' is required"))?;
    u.external_id = opt_string(doc, "externalId")?;
    let name = opt_object(doc, "name")?;
    u.given_name = name.map(|n| opt_string(n, "givenName")).transpose()?.flatten();
    u.surname = name.map(|n| opt_string(n, "familyName")).transpose()?.flatten();
    u.job_title = opt_string(doc, "title")?;
    u.account_enabled = match get_ci(doc, "active") {
        None | Some(Value::Null) => true,
        Some(v) => scim_bool(v, "active")?,
    };
    u.user_type = match opt_string(doc, "userType")? {
        None => u.user_type,
        Some(t) if t.eq_ignore_ascii_case("member") => UserType::Member,
        Some(t) if t.eq_ignore_ascii_case("guest") => UserType::Guest,
        Some(t) => return Err(ScimError::invalid_value(format!("'userType' must be Member or Guest, not '{t}'"))),
    };
    // Extra attributes: start from what SCIM does not manage (e.g. Graph's mailNickname).
    let mut extra = u.extra.clone();
    for key in USER_EXTRA_STRINGS.iter().chain(USER_EXTRA_MULTI).chain(&["name", "emails", ENTERPRISE_USER]) {
        extra.remove(*key);
    }
    for key in USER_EXTRA_STRINGS {
        if let Some(v) = opt_string(doc, key)? {
            extra.insert((*key).into(), json!(v));
        }
    }
    for key in USER_EXTRA_MULTI {
        if let Some(a) = opt_array(doc, key)? {
            if !a.is_empty() {
                extra.insert((*key).into(), Value::Array(a.clone()));
            }
        }
    }
    if let Some(n) = name {
        let mut rest = Map::new();
        for key in NAME_EXTRA {
            if let Some(v) = opt_string(n, key)? {
                rest.insert((*key).into(), json!(v));
            }
        }
        if !rest.is_empty() {
            extra.insert("name".into(), Value::Object(rest));
        }
    }
    // The work (else primary, else first) email is the user's mail; others are kept as given.
    u.mail = None;
    if let Some(emails) = opt_array(doc, "emails")? {
        let is = |e: &Value, k: &str, want: &str| {
            e.as_object().and_then(|o| get_ci(o, k)).and_then(Value::as_str).is_some_and(|s| s.eq_ignore_ascii_case(want))
        };
        let primary =
            |e: &Value| e.as_object().and_then(|o| get_ci(o, "primary")).is_some_and(|p| scim_bool(p, "primary").unwrap_or(false));
        let chosen = emails
            .iter()
            .position(|e| is(e, "type", "work"))
            .or_else(|| emails.iter().position(primary))
            .or(if emails.is_empty() { None } else { Some(0) });
        let mut others = Vec::new();
        for (i, e) in emails.iter().enumerate() {
            let value = e.as_object().map(|o| opt_string(o, "value")).transpose()?.flatten();
            if Some(i) == chosen {
                u.mail = value;
            } else if value.is_some() {
                others.push(e.clone());
            }
        }
        if !others.is_empty() {
            extra.insert("emails".into(), Value::Array(others));
        }
    }
    u.employee_number = None;
    u.department = None;
    if let Some(ent) = opt_object(doc, ENTERPRISE_USER)? {
        u.employee_number = opt_string(ent, "employeeNumber")?;
        u.department = opt_string(ent, "department")?;
        let mut rest = Map::new();
        for key in ENTERPRISE_EXTRA {
            if let Some(v) = opt_string(ent, key)? {
                rest.insert((*key).into(), json!(v));
            }
        }
        match get_ci(ent, "manager") {
            None | Some(Value::Null) => {}
            // Entra ID sends the manager's id as a plain string.
            Some(Value::String(s)) if s.is_empty() => {}
            Some(Value::String(s)) => {
                rest.insert("manager".into(), json!({ "value": s }));
            }
            Some(Value::Object(m)) => {
                if let Some(v) = opt_string(m, "value")? {
                    rest.insert("manager".into(), json!({ "value": v }));
                }
            }
            Some(other) => return Err(ScimError::invalid_value(format!("'manager' must be an id or an object, not {other}"))),
        }
        if !rest.is_empty() {
            extra.insert(ENTERPRISE_USER.into(), Value::Object(rest));
        }
    }
    u.extra = extra;
    u.display_name = match opt_string(doc, "displayName")? {
        Some(d) => d,
        None => {
            let formatted = name.map(|n| opt_string(n, "formatted")).transpose()?.flatten();
            let joined = [u.given_name.clone(), u.surname.clone()].into_iter().flatten().collect::<Vec<_>>().join(" ");
            formatted
                .or(if joined.is_empty() { None } else { Some(joined) })
                .unwrap_or_else(|| u.upn.split('@').next().unwrap_or_default().to_string())
        }
    };
    let password = opt_string(doc, "password")?;
    u.validate().map_err(ScimError::invalid_value)?;
    Ok(password)
}

/// A group as a SCIM resource; `members` is `None` when the caller excluded them.
pub fn group_to_scim(g: &DirGroup, members: Option<&[GroupMemberRef]>, base: &str) -> Map<String, Value> {
    let mut r = Map::new();
    r.insert("schemas".into(), json!([CORE_GROUP]));
    r.insert("id".into(), json!(g.id.to_string()));
    if let Some(x) = &g.external_id {
        r.insert("externalId".into(), json!(x));
    }
    r.insert("displayName".into(), json!(g.display_name));
    if let Some(members) = members {
        let ms: Vec<Value> = members
            .iter()
            .map(|m| {
                let (kind, path) = match m.kind {
                    PrincipalKind::Group => ("Group", "Groups"),
                    _ => ("User", "Users"),
                };
                json!({"value": m.id.to_string(), "display": m.display_name, "type": kind, "$ref": format!("{base}/{path}/{}", m.id)})
            })
            .collect();
        r.insert("members".into(), Value::Array(ms));
    }
    r.insert("meta".into(), meta("Group", g.created_at, g.last_modified(), format!("{base}/Groups/{}", g.id), g.version));
    r
}

/// Replace a group's SCIM attributes from `doc`; returns the member ids it lists.
pub fn apply_group_json(doc: &Map<String, Value>, g: &mut DirGroup) -> Result<Vec<Uuid>, ScimError> {
    g.display_name = opt_string(doc, "displayName")?.ok_or_else(|| ScimError::invalid_value("'displayName' is required"))?;
    g.external_id = opt_string(doc, "externalId")?;
    let mut members = Vec::new();
    for m in opt_array(doc, "members")?.into_iter().flatten() {
        let value = m
            .as_object()
            .map(|o| opt_string(o, "value"))
            .transpose()?
            .flatten()
            .ok_or_else(|| ScimError::invalid_value("every member needs a 'value'"))?;
        let id = Uuid::parse_str(&value).map_err(|_| ScimError::invalid_value(format!("member '{value}' is not the id of a resource")))?;
        if !members.contains(&id) {
            members.push(id);
        }
    }
    g.validate().map_err(ScimError::invalid_value)?;
    Ok(members)
}

/// Apply `attributes` (keep only these, plus `id` and `schemas`) or `excludedAttributes`.
pub fn project(resource: Map<String, Value>, attributes: Option<&str>, excluded: Option<&str>) -> Result<Map<String, Value>, ScimError> {
    let parse = |list: &str| -> Result<Vec<super::filter::AttrPath>, ScimError> {
        list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| parse_attr_path(s).map_err(ScimError::invalid_value)).collect()
    };
    if let Some(list) = attributes.filter(|a| !a.trim().is_empty()) {
        let mut out = Map::new();
        for key in ["schemas", "id"] {
            if let Some(v) = resource.get(key) {
                out.insert(key.into(), v.clone());
            }
        }
        for path in parse(list)? {
            let (src, dst): (Option<&Map<String, Value>>, &mut Map<String, Value>) = match &path.uri {
                None => (Some(&resource), &mut out),
                Some(uri) => {
                    let Some(Value::Object(ext)) = resource.get(uri) else { continue };
                    if path.attr.is_empty() {
                        out.insert(uri.clone(), Value::Object(ext.clone()));
                        continue;
                    }
                    let entry = out.entry(uri.clone()).or_insert_with(|| json!({}));
                    (Some(ext), entry.as_object_mut().expect("inserted as an object"))
                }
            };
            let Some(src) = src else { continue };
            let key = key_ci(src, &path.attr);
            let Some(v) = src.get(&key) else { continue };
            match (&path.sub, v) {
                (None, v) => {
                    dst.insert(key, v.clone());
                }
                (Some(sub), Value::Object(o)) => {
                    let sk = key_ci(o, sub);
                    if let Some(sv) = o.get(&sk) {
                        let e = dst.entry(key).or_insert_with(|| json!({}));
                        if let Some(e) = e.as_object_mut() {
                            e.insert(sk, sv.clone());
                        }
                    }
                }
                (Some(sub), Value::Array(items)) => {
                    let kept: Vec<Value> = items
                        .iter()
                        .filter_map(|i| i.as_object())
                        .filter_map(|o| {
                            let sk = key_ci(o, sub);
                            o.get(&sk).map(|sv| json!({ sk: sv }))
                        })
                        .collect();
                    dst.insert(key, Value::Array(kept));
                }
                _ => {}
            }
        }
        return Ok(out);
    }
    let mut out = resource;
    if let Some(list) = excluded {
        for path in parse(list)? {
            let container = match &path.uri {
                None => Some(&mut out),
                Some(uri) => {
                    if path.attr.is_empty() {
                        out.remove(uri);
                        continue;
                    }
                    out.get_mut(uri).and_then(Value::as_object_mut)
                }
            };
            let Some(container) = container else { continue };
            let key = key_ci(container, &path.attr);
            if path.uri.is_none() && (key == "id" || key == "schemas") {
                continue;
            }
            match &path.sub {
                None => {
                    container.remove(&key);
                }
                Some(sub) => match container.get_mut(&key) {
                    Some(Value::Object(o)) => {
                        let sk = key_ci(o, sub);
                        o.remove(&sk);
                    }
                    Some(Value::Array(items)) => {
                        for i in items.iter_mut().filter_map(Value::as_object_mut) {
                            let sk = key_ci(i, sub);
                            i.remove(&sk);
                        }
                    }
                    _ => {}
                },
            }
        }
    }
    Ok(out)
}

// ----- discovery -----

fn attr(name: &str, kind: &str, multi: bool, required: bool, mutability: &str, returned: &str, uniqueness: &str) -> Value {
    json!({
        "name": name, "type": kind, "multiValued": multi, "description": "", "required": required,
        "caseExact": matches!(name, "id" | "externalId" | "value" | "$ref" | "password"),
        "mutability": mutability, "returned": returned, "uniqueness": uniqueness
    })
}

fn s(name: &str) -> Value {
    attr(name, "string", false, false, "readWrite", "default", "none")
}

fn complex(name: &str, multi: bool, subs: Vec<Value>) -> Value {
    let mut a = attr(name, "complex", multi, false, "readWrite", "default", "none");
    a["subAttributes"] = Value::Array(subs);
    a
}

fn typed_multi(name: &str, types: &[&str], extra: Vec<Value>) -> Value {
    let mut t = s("type");
    t["canonicalValues"] = json!(types);
    let mut subs = vec![s("value"), t, attr("primary", "boolean", false, false, "readWrite", "default", "none")];
    subs.extend(extra);
    complex(name, true, subs)
}

fn reference(name: &str, to: &[&str], mutability: &str) -> Value {
    let mut r = attr(name, "reference", false, false, mutability, "default", "none");
    r["referenceTypes"] = json!(to);
    r
}

pub fn user_schema() -> Value {
    let mut user_name = attr("userName", "string", false, true, "readWrite", "default", "server");
    user_name["description"] = json!("The user's userPrincipalName (name@domain), unique among users that are not deleted");
    let mut user_type = s("userType");
    user_type["canonicalValues"] = json!(["Member", "Guest"]);
    let attributes = vec![
        user_name,
        complex(
            "name",
            false,
            vec![s("formatted"), s("familyName"), s("givenName"), s("middleName"), s("honorificPrefix"), s("honorificSuffix")],
        ),
        s("displayName"),
        s("nickName"),
        reference("profileUrl", &["external"], "readWrite"),
        s("title"),
        user_type,
        s("preferredLanguage"),
        s("locale"),
        s("timezone"),
        attr("active", "boolean", false, false, "readWrite", "default", "none"),
        attr("password", "string", false, false, "writeOnly", "never", "none"),
        typed_multi("emails", &["work", "home", "other"], vec![]),
        typed_multi("phoneNumbers", &["work", "home", "mobile", "fax", "pager", "other"], vec![]),
        complex(
            "addresses",
            true,
            vec![
                s("formatted"),
                s("streetAddress"),
                s("locality"),
                s("region"),
                s("postalCode"),
                s("country"),
                {
                    let mut t = s("type");
                    t["canonicalValues"] = json!(["work", "home", "other"]);
                    t
                },
                attr("primary", "boolean", false, false, "readWrite", "default", "none"),
            ],
        ),
        {
            let mut g = complex(
                "groups",
                true,
                vec![
                    attr("value", "string", false, false, "readOnly", "default", "none"),
                    reference("$ref", &["Group"], "readOnly"),
                    attr("display", "string", false, false, "readOnly", "default", "none"),
                    attr("type", "string", false, false, "readOnly", "default", "none"),
                ],
            );
            g["mutability"] = json!("readOnly");
            g
        },
    ];
    json!({
        "id": CORE_USER, "name": "User", "description": "User Account (a directory user)", "attributes": attributes,
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "meta": {"resourceType": "Schema", "location": format!("/Schemas/{CORE_USER}")}
    })
}

pub fn enterprise_schema() -> Value {
    let attributes = vec![
        s("employeeNumber"),
        s("costCenter"),
        s("organization"),
        s("division"),
        s("department"),
        complex(
            "manager",
            false,
            vec![
                s("value"),
                reference("$ref", &["User"], "readWrite"),
                attr("displayName", "string", false, false, "readOnly", "default", "none"),
            ],
        ),
    ];
    json!({
        "id": ENTERPRISE_USER, "name": "EnterpriseUser", "description": "Enterprise User", "attributes": attributes,
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "meta": {"resourceType": "Schema", "location": format!("/Schemas/{ENTERPRISE_USER}")}
    })
}

pub fn group_schema() -> Value {
    let mut member_type = s("type");
    member_type["canonicalValues"] = json!(["User", "Group"]);
    member_type["mutability"] = json!("immutable");
    let attributes = vec![
        attr("displayName", "string", false, true, "readWrite", "default", "none"),
        complex(
            "members",
            true,
            vec![
                attr("value", "string", false, false, "immutable", "default", "none"),
                reference("$ref", &["User", "Group"], "immutable"),
                attr("display", "string", false, false, "readOnly", "default", "none"),
                member_type,
            ],
        ),
    ];
    json!({
        "id": CORE_GROUP, "name": "Group", "description": "Group (a security group of the directory)", "attributes": attributes,
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "meta": {"resourceType": "Schema", "location": format!("/Schemas/{CORE_GROUP}")}
    })
}

pub fn resource_types(base: &str) -> Vec<Value> {
    vec![
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"], "id": "User", "name": "User", "endpoint": "/Users",
            "description": "User Account", "schema": CORE_USER,
            "schemaExtensions": [{"schema": ENTERPRISE_USER, "required": false}],
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")}
        }),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"], "id": "Group", "name": "Group", "endpoint": "/Groups",
            "description": "Group", "schema": CORE_GROUP,
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group")}
        }),
    ]
}

pub const MAX_RESULTS: usize = 1000;

pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://datatracker.ietf.org/doc/html/rfc7644",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken", "name": "OAuth Bearer Token", "primary": true,
            "description": "The tenant's SCIM provisioning secret, sent as 'Authorization: Bearer <secret>'"
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")}
    })
}
