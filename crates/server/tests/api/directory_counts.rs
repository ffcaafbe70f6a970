//! The directory's kept counts (Graph `$count`, SCIM `totalResults` of an unfiltered list) against
//! a `COUNT(*)` of the rows, after every kind of write: import, seed, create, delete, restore,
//! membership changes.

use chrono::{TimeZone, Utc};
use pbi_server::clock::{Clock, ManualClock};
use pbi_server::seed::{generate, SeedParams};
use reqwest::Method;
use serde_json::json;
use sqlx::{AnyPool, Row};
use uuid::Uuid;

use crate::backend_test;
use crate::helpers::*;

const DAY: i64 = 24 * 3600 * 1000;

/// What the rows say: active users, active groups, users deleted less than 30 days before `now`.
async fn truth(pool: &AnyPool, tenant: Uuid, now: i64) -> (i64, i64, i64) {
    let count = |sql: &'static str| async move {
        sqlx::query(sql).bind(tenant.to_string()).bind(now - 30 * DAY).fetch_one(pool).await.unwrap().try_get::<i64, _>("n").unwrap()
    };
    (
        count("SELECT COUNT(*) AS n FROM users WHERE tenant_id = $1 AND deleted_at IS NULL AND $2 = $2").await,
        count("SELECT COUNT(*) AS n FROM directory_groups WHERE tenant_id = $1 AND deleted_at IS NULL AND $2 = $2").await,
        count("SELECT COUNT(*) AS n FROM users WHERE tenant_id = $1 AND deleted_at IS NOT NULL AND deleted_at > $2").await,
    )
}

/// What Graph and SCIM serve for the fixture tenant, each count read every way it is served.
async fn served(app: &TestApp) -> (i64, i64, i64) {
    let token = app.graph_app_token().await;
    let eventual = [("ConsistencyLevel", "eventual")];
    let graph = |path: &'static str| {
        let token = token.clone();
        async move {
            let (s, b, _) = app.call(Method::GET, &format!("/graph/v1.0{path}"), Some(&token), None, &eventual).await;
            assert_eq!(s, 200, "{path}: {b}");
            b
        }
    };
    let scim = |path: &'static str| async move {
        let (s, b, _) = app.scim(Method::GET, path, None).await;
        assert_eq!(s, 200, "{path}: {b}");
        b["totalResults"].as_i64().unwrap()
    };
    let users = graph("/users/$count").await.as_i64().unwrap();
    assert_eq!(graph("/users?$count=true&$top=1").await["@odata.count"].as_i64().unwrap(), users, "Graph users: two ways");
    assert_eq!(scim("/Users?count=1").await, users, "SCIM totalResults of users");
    assert_eq!(scim("/Users?count=0").await, users, "SCIM totalResults of users, no page");
    let groups = graph("/groups/$count").await.as_i64().unwrap();
    assert_eq!(graph("/groups?$count=true&$top=1").await["@odata.count"].as_i64().unwrap(), groups, "Graph groups: two ways");
    assert_eq!(scim("/Groups?count=1").await, groups, "SCIM totalResults of groups");
    let deleted = graph("/directory/deletedItems/microsoft.graph.user?$count=true&$top=1").await["@odata.count"].as_i64().unwrap();
    (users, groups, deleted)
}

/// A group's direct members: `$count` as served and the live rows.
async fn members(app: &TestApp, pool: &AnyPool, group: &str) -> (i64, i64) {
    let token = app.graph_app_token().await;
    let path = format!("/graph/v1.0/groups/{group}/members?$count=true&$top=1");
    let (s, b, _) = app.call(Method::GET, &path, Some(&token), None, &[("ConsistencyLevel", "eventual")]).await;
    assert_eq!(s, 200, "{b}");
    let rows = sqlx::query(
        "SELECT COUNT(*) AS n FROM group_members m JOIN users u ON u.tenant_id = m.tenant_id AND u.id = m.member_id \
         WHERE m.tenant_id = $1 AND m.group_id = $2 AND u.deleted_at IS NULL",
    )
    .bind(app.tenant_id().to_string())
    .bind(group)
    .fetch_one(pool)
    .await
    .unwrap()
    .try_get::<i64, _>("n")
    .unwrap();
    (b["@odata.count"].as_i64().unwrap(), rows)
}

backend_test!(served_directory_counts_equal_the_rows_after_every_kind_of_write, |app: TestApp| async move {
    sqlx::any::install_default_drivers();
    let pool = AnyPool::connect(&app.config.database).await.unwrap();
    let tenant = app.tenant_id();
    let check = |step: &'static str| {
        let (app, pool) = (&app, &pool);
        async move {
            let served = served(app).await;
            assert_eq!(served, truth(pool, tenant, app.clock.now_millis()).await, "after {step}");
            served
        }
    };

    // Import (the fixture is provisioned as `tenant import` writes).
    let (users, groups, deleted) = check("import").await;
    assert!(users > 5 && groups > 0, "{users} users, {groups} groups");

    // Creates, through both dialects.
    let body = json!({
        "accountEnabled": true, "displayName": "Counted", "mailNickname": "counted", "userPrincipalName": upn("counted"),
        "passwordProfile": {"password": PASSWORD}
    });
    let (s, b, _) = app.graph(Method::POST, "/users", Some(body)).await;
    assert_eq!(s, 201, "{b}");
    let graph_user = b["id"].as_str().unwrap().to_string();
    assert_eq!(check("a Graph user create").await, (users + 1, groups, deleted));
    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": upn("scimmed"), "active": true});
    let (s, b, _) = app.scim(Method::POST, "/Users", Some(body)).await;
    assert_eq!(s, 201, "{b}");
    let scim_user = b["id"].as_str().unwrap().to_string();
    assert_eq!(check("a SCIM user create").await, (users + 2, groups, deleted));
    let body = json!({"displayName": "Counted", "mailEnabled": false, "mailNickname": "counted", "securityEnabled": true});
    let (s, b, _) = app.graph(Method::POST, "/groups", Some(body)).await;
    assert_eq!(s, 201, "{b}");
    let graph_group = b["id"].as_str().unwrap().to_string();
    let (s, b, _) = app.scim(Method::POST, "/Groups", Some(json!({"displayName": "Counted by SCIM"}))).await;
    assert_eq!(s, 201, "{b}");
    let scim_group = b["id"].as_str().unwrap().to_string();
    assert_eq!(check("two group creates").await, (users + 2, groups + 2, deleted));
    // A create refused (a taken UPN) counts nothing.
    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": upn("scimmed"), "active": true});
    assert_eq!(app.scim(Method::POST, "/Users", Some(body)).await.0, 409);
    assert_eq!(check("a refused create").await, (users + 2, groups + 2, deleted));

    // Membership: the tenant's counts stay, the group's member count follows.
    let reference = |id: &str| Some(json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}")}));
    for id in [&graph_user, &scim_user] {
        assert_eq!(app.graph(Method::POST, &format!("/groups/{graph_group}/members/$ref"), reference(id)).await.0, 204);
    }
    assert_eq!(members(&app, &pool, &graph_group).await, (2, 2));
    assert_eq!(app.graph(Method::DELETE, &format!("/groups/{graph_group}/members/{scim_user}/$ref"), None).await.0, 204);
    assert_eq!(members(&app, &pool, &graph_group).await, (1, 1));
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": scim_user}]}]});
    let (s, b, _) = app.scim(Method::PATCH, &format!("/Groups/{graph_group}"), Some(patch)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(members(&app, &pool, &graph_group).await, (2, 2));
    assert_eq!(check("membership changes").await, (users + 2, groups + 2, deleted));

    // Deletes and restores; a deleted member leaves its group's count.
    assert_eq!(app.graph(Method::DELETE, &format!("/users/{graph_user}"), None).await.0, 204);
    assert_eq!(app.scim(Method::DELETE, &format!("/Users/{scim_user}"), None).await.0, 204);
    assert_eq!(check("two user deletes").await, (users, groups + 2, deleted + 2));
    assert_eq!(members(&app, &pool, &graph_group).await, (0, 0));
    assert_eq!(app.graph(Method::DELETE, &format!("/users/{graph_user}"), None).await.0, 404);
    let (s, b, _) = app.graph(Method::POST, &format!("/directory/deletedItems/{graph_user}/restore"), None).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(check("a restore").await, (users + 1, groups + 2, deleted + 1));
    assert_eq!(members(&app, &pool, &graph_group).await, (1, 1));
    assert_eq!(app.scim(Method::DELETE, &format!("/Groups/{scim_group}"), None).await.0, 204);
    assert_eq!(app.scim(Method::DELETE, &format!("/Groups/{scim_group}"), None).await.0, 404);
    assert_eq!(check("a group delete").await, (users + 1, groups + 1, deleted + 1));
    // Thirty days on, the deleted user is gone from deleted items.
    app.clock.advance(std::time::Duration::from_secs(31 * 24 * 3600));
    assert_eq!(check("the restore window").await, (users + 1, groups + 1, deleted));

    // Seed: the generator writes through the same paths, in bulk.
    let params = SeedParams { users: 300, workspaces: 20, seed: 7, domain: None };
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2025, 3, 10, 12, 0, 0).unwrap());
    let seeded = generate(&app.store, &*clock, &params).await.unwrap();
    let kept =
        (app.store.count_users(seeded.tenant_id, None).await.unwrap(), app.store.count_groups(seeded.tenant_id, None).await.unwrap());
    let (u, g, _) = truth(&pool, seeded.tenant_id, clock.now_millis()).await;
    assert_eq!(kept, (u, g));
    assert_eq!(kept, (300, seeded.counts.groups as i64));
    // The first tenant's counts did not move.
    assert_eq!(check("another tenant's seed").await, (users + 1, groups + 1, deleted));

    // Import of another tenant.
    let other = provision_other_tenant(&app).await;
    let kept = (app.store.count_users(other.tenant.id, None).await.unwrap(), app.store.count_groups(other.tenant.id, None).await.unwrap());
    let (u, g, _) = truth(&pool, other.tenant.id, app.clock.now_millis()).await;
    assert_eq!(kept, (u, g));
    assert!(u > 0);
    pool.close().await;
});
