//! The activity log: what the server records for the changes it makes, and
//! `GET /admin/activityevents` (one-day windows, hourly pages, `$filter`, tokens, retention).

use chrono::{DateTime, Duration as Days, TimeZone, Utc};
use pbi_server::store::seed;
use pbi_server::store::ActivityEvent;
use pbi_server::Clock;
use pbi_wire::powerbi::{GroupUser, GroupUserAccessRight as R, PrincipalType as P};
use serde_json::Value;
use uuid::Uuid;

use crate::audit::{error_code, get};
use crate::backend_test;
use crate::helpers::*;

pub fn day_window(t: DateTime<Utc>) -> String {
    let day = t.format("%Y-%m-%d");
    format!("startDateTime='{day}T00:00:00.000Z'&endDateTime='{day}T23:59:59.999Z'")
}

fn events_path(query: &str) -> String {
    format!("/v1.0/myorg/admin/activityevents?{query}")
}

/// Follow an activity query to its end: every event, the number of pages, and how many pages
/// carried a token but no events.
pub async fn all_events(app: &TestApp, token: &str, first: &str) -> (Vec<Value>, usize, usize) {
    let (mut events, mut pages, mut empty, mut next) = (Vec::new(), 0, 0, Some(first.to_string()));
    while let Some(url) = next.take() {
        let (status, body) = get(app, token, &url).await;
        assert_eq!(status, 200, "{url}: {body}");
        pages += 1;
        let page = body["activityEventEntities"].as_array().unwrap();
        let last = body["lastResultSet"].as_bool().unwrap();
        if last {
            assert!(body["continuationUri"].is_null() && body["continuationToken"].is_null(), "{body}");
        } else {
            assert!(body["continuationToken"].is_string(), "{body}");
            if page.is_empty() {
                empty += 1;
            }
        }
        events.extend(page.iter().cloned());
        next = body["continuationUri"].as_str().map(str::to_string);
        assert!(pages < 500);
    }
    (events, pages, empty)
}

fn activities(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["Activity"].as_str().unwrap()).collect()
}

backend_test!(every_access_change_is_recorded_in_the_activity_log, |app: TestApp| async move {
    let now = app.clock.now();
    let (owner, admin) = (app.as_user("owner").await, app.as_user("admin").await);
    let team = app.ws("Team");
    // Events at one instant come in id order; a millisecond apart, in the order they happened.
    let tick = || app.clock.advance(std::time::Duration::from_millis(1));
    owner.add_group_user(team, &GroupUser::email(upn("outsider"), R::Viewer)).await.unwrap();
    tick();
    owner.update_group_user(team, &GroupUser::email(upn("outsider"), R::Member)).await.unwrap();
    tick();
    owner.update_group_user(team, &GroupUser::email(upn("outsider"), R::Member)).await.unwrap(); // no change: no event
    tick();
    owner.delete_group_user(team, &upn("outsider")).await.unwrap();
    tick();
    assert!(app.as_user("member").await.delete_group_user(team, &upn("viewer")).await.is_err(), "refused: no event");
    tick();
    admin.add_user_as_admin(team, &GroupUser::email(upn("outsider"), R::Viewer)).await.unwrap();
    tick();
    admin.add_user_as_admin(team, &GroupUser::email(upn("outsider"), R::Contributor)).await.unwrap();
    tick();
    admin.delete_user_as_admin(team, &upn("outsider"), false).await.unwrap();
    tick();
    let group = app.fixture.groups["Analysts"].to_string();
    owner.add_group_user(team, &GroupUser::principal(&group, P::Group, R::Viewer)).await.unwrap();
    tick();
    let created = owner.create_group("Quarterly").await.unwrap().id;
    tick();
    owner.delete_group(created).await.unwrap();

    let token = app.user_token("admin").await;
    let (events, _, _) = all_events(&app, &token, &events_path(&day_window(now))).await;
    assert_eq!(
        activities(&events),
        [
            "AddGroupMembers",
            "UpdateWorkspaceAccess",
            "DeleteGroupMembers",
            "AddWorkspaceRoleViaAdminApi",
            "UpdateWorkspaceRoleViaAdminApi",
            "DeleteWorkspaceRoleViaAdminApi",
            "AddGroupMembers",
            "CreateFolder",
            "DeleteFolder",
        ]
    );
    let first = &events[0];
    assert_eq!(first["RecordType"], 20);
    assert_eq!(first["Operation"], "AddGroupMembers");
    assert_eq!(first["Workload"], "PowerBI");
    assert_eq!(first["IsSuccess"], true);
    assert_eq!(first["UserId"], upn("owner"));
    assert_eq!(first["UserKey"], app.user_id("owner").to_string());
    assert_eq!(first["UserType"], 0);
    assert_eq!(first["OrganizationId"], app.tenant_id().to_string());
    assert_eq!(first["WorkspaceId"], team.to_string());
    assert_eq!(first["WorkSpaceName"], "Team");
    assert_eq!(first["MembershipInformation"][0]["MemberEmail"], upn("outsider"));
    let access = &first["WorkspaceAccessList"][0]["UserAccessList"][0];
    assert_eq!(access["UserId"], app.user_id("outsider").to_string());
    assert_eq!(access["GroupUserAccessRight"], "Viewer");
    assert_eq!(access["UserType"], "User");
    assert!(first["RequestId"].as_str().is_some_and(|r| Uuid::parse_str(r).is_ok()), "{first}");
    let created_at = first["CreationTime"].as_str().unwrap();
    assert_eq!(created_at.len(), "2019-08-13T07:55:15".len(), "the service's CreationTime format: {created_at}");
    assert_eq!(events[1]["WorkspaceAccessList"][0]["UserAccessList"][0]["GroupUserAccessRight"], "Member");
    assert_eq!(events[2]["WorkspaceAccessList"][0]["UserAccessList"][0]["GroupUserAccessRight"], "None");
    assert_eq!(events[3]["UserId"], upn("admin"));
    assert_eq!(events[6]["WorkspaceAccessList"][0]["UserAccessList"][0]["UserType"], "Group");
    assert_eq!(events[7]["FolderDisplayName"], "Quarterly");
    assert_eq!(events[8]["WorkspaceId"], created.to_string());
    let ids: std::collections::HashSet<&str> = events.iter().map(|e| e["Id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), events.len());

    // $filter: Activity and UserId, eq and and, without regard to case.
    let filtered = |f: &str| events_path(&format!("{}&$filter={}", day_window(now), f.replace(' ', "%20").replace('\'', "%27")));
    let (adds, _, _) = all_events(&app, &token, &filtered("Activity eq 'addgroupmembers'")).await;
    assert_eq!(adds.len(), 2);
    let (by_admin, _, _) = all_events(&app, &token, &filtered(&format!("UserId eq '{}'", upn("ADMIN")))).await;
    assert_eq!(by_admin.len(), 3);
    let (both, _, _) =
        all_events(&app, &token, &filtered(&format!("Activity eq 'AddGroupMembers' and UserId eq '{}'", upn("owner")))).await;
    assert_eq!(both.len(), 2);
    let (none, _, _) = all_events(&app, &token, &filtered("Activity eq 'ViewReport'")).await;
    assert!(none.is_empty());

    // A service principal's changes are recorded with its object id.
    let sp = app.as_app().await;
    sp.add_group_user(team, &GroupUser::email(upn("newbie"), R::Viewer)).await.unwrap();
    let (events, _, _) = all_events(&app, &token, &filtered("Activity eq 'AddGroupMembers'")).await;
    let last = events.last().unwrap();
    assert_eq!(last["UserId"], app.app_object_id().to_string());
    assert_eq!(last["UserType"], 6);
});

mod windows {
    use super::*;

    async fn spawn(backend: Backend) -> Option<TestApp> {
        TestApp::spawn_with(backend, |c| c.audit.activity_page_size = 3).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        if let Some(app) = spawn(Backend::Sqlite).await {
            pages_cover_an_hour_at_most_and_keep_thirty_days(app).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        if let Some(app) = spawn(Backend::Postgres).await {
            pages_cover_an_hour_at_most_and_keep_thirty_days(app).await;
        }
    }

    fn event(at: DateTime<Utc>, activity: &str, user: &str) -> ActivityEvent {
        ActivityEvent {
            id: Uuid::new_v4(),
            creation_time: at.timestamp_millis(),
            activity: activity.into(),
            operation: activity.into(),
            user_id: user.into(),
            user_key: "key".into(),
            workspace_id: None,
            item: serde_json::json!({ "ClientIP": "127.0.0.1" }),
        }
    }

    async fn insert(app: &TestApp, tenant: Uuid, events: &[ActivityEvent]) {
        let mut tx = app.store.external_write().await.unwrap();
        seed::insert_activity_events(&mut tx, tenant, events).await.unwrap();
        tx.commit().await.unwrap();
    }

    async fn pages_cover_an_hour_at_most_and_keep_thirty_days(app: TestApp) {
        let day = Utc.with_ymd_and_hms(2025, 3, 10, 0, 0, 0).unwrap();
        app.clock.set(day + Days::minutes(12 * 60 + 30));
        let at = |h: i64, m: i64| day + Days::minutes(h * 60 + m);
        let (a, b) = (upn("viewer"), upn("owner"));
        let mut mine = vec![
            event(at(1, 10), "ViewReport", &a),
            event(at(1, 10), "ViewReport", &b),
            event(at(1, 20), "ViewDashboard", &a),
            event(at(1, 25), "ViewReport", &a),
            event(at(1, 59), "ViewReport", &b),
            event(at(5, 0), "ExportReport", &a),
            event(at(11, 0), "ViewReport", &a),
            event(at(11, 1), "ViewReport", &a),
            event(at(11, 2), "ViewReport", &b),
            event(at(11, 3), "ViewReport", &a),
        ];
        let old = event(day - Days::days(40), "ViewReport", &a);
        mine.push(old.clone());
        insert(&app, app.tenant_id(), &mine).await;
        // Another tenant's events stay out.
        let other = app
            .provision(&pbi_server::tenant::TenantSpec { name: "Other".into(), domain: "other.example".into(), ..Default::default() })
            .await;
        insert(&app, other.tenant.id, &[event(at(1, 15), "ViewReport", "x@other.example")]).await;

        let token = app.token_for(app.tenant_id(), app.app_id(), &upn("admin")).await;
        let window = "startDateTime='2025-03-10T00:00:00Z'&endDateTime='2025-03-10T23:59:59.999Z'";
        let (events, pages, empty) = all_events(&app, &token, &events_path(window)).await;
        let ids: Vec<&str> = events.iter().map(|e| e["Id"].as_str().unwrap()).collect();
        let expected: Vec<String> = {
            let mut sorted: Vec<&ActivityEvent> = mine[..10].iter().collect();
            sorted.sort_by_key(|e| (e.creation_time, e.id.to_string()));
            sorted.iter().map(|e| e.id.to_string()).collect()
        };
        assert_eq!(ids, expected, "each event once, in time order");
        // One page per hour of the day, plus a second page in hours 1 and 11 (five and four
        // events, three a page). The twenty hours without events still cost a page each, with a
        // token and no events (the last hour's page ends the list instead).
        assert_eq!(pages, 26);
        assert_eq!(empty, 20, "pages with a token and no events");

        // A filter narrows, and rides along in continuationUri.
        let (status, body) = get(&app, &token, &events_path(&format!("{window}&$filter=UserId%20eq%20'{b}'"))).await;
        assert_eq!(status, 200);
        let uri = body["continuationUri"].as_str().unwrap();
        assert!(uri.contains("/admin/activityevents?continuationToken='") && uri.contains("&$filter=UserId%20eq%20'"), "{uri}");
        let (filtered, _, _) = all_events(&app, &token, &events_path(&format!("{window}&$filter=UserId%20eq%20'{b}'"))).await;
        assert_eq!(filtered.len(), 3);
        // The token continues its own window and filter only.
        let token_text = body["continuationToken"].as_str().unwrap();
        let (status, body) =
            get(&app, &token, &events_path(&format!("continuationToken='{token_text}'&$filter=Activity%20eq%20'X'"))).await;
        assert_eq!((status, error_code(&body)), (400, "InvalidContinuationToken"));
        let (status, _) = get(&app, &token, &events_path(&format!("continuationToken='{token_text}'"))).await;
        assert_eq!(status, 200);

        // Thirty days: the window 40 days back is empty, and the event is gone for good
        // (moving the clock back does not bring it back).
        let old_day = (day - Days::days(40)).format("%Y-%m-%d");
        let old_window = format!("startDateTime='{old_day}T00:00:00Z'&endDateTime='{old_day}T23:59:59Z'");
        let (events, _, _) = all_events(&app, &token, &events_path(&old_window)).await;
        assert!(events.is_empty());
        app.clock.set(day - Days::days(20));
        let token = app.token_for(app.tenant_id(), app.app_id(), &upn("admin")).await;
        let (events, _, _) = all_events(&app, &token, &events_path(&old_window)).await;
        assert!(events.is_empty(), "purged past retention: {events:?}");
        let _ = old;
    }
}

backend_test!(activity_windows_and_filters_are_validated, |app: TestApp| async move {
    let token = app.user_token("admin").await;
    let today = app.clock.now();
    let day = today.format("%Y-%m-%d");
    for (query, why) in [
        (String::new(), "no window, no token"),
        (format!("startDateTime='{day}T00:00:00Z'"), "no end"),
        (format!("endDateTime='{day}T00:00:00Z'"), "no start"),
        (format!("startDateTime='{day}T10:00:00Z'&endDateTime='{day}T09:00:00Z'"), "end before start"),
        (format!("startDateTime='{day}T10:00:00Z'&endDateTime='{}T09:00:00Z'", (today + Days::days(1)).format("%Y-%m-%d")), "two days"),
        ("startDateTime='yesterday'&endDateTime='today'".to_string(), "not dates"),
        (format!("{}&$filter=Activity%20ne%20'ViewReport'", day_window(today)), "ne"),
        (format!("{}&$filter=Activity%20eq%20'a'%20or%20UserId%20eq%20'b'", day_window(today)), "or"),
        (format!("{}&$filter=WorkspaceId%20eq%20'a'", day_window(today)), "unknown field"),
        (format!("{}&$filter=Activity%20eq%20'a%00'", day_window(today)), "control character"),
        ("continuationToken='garbage'".to_string(), "forged token"),
    ] {
        let (status, body) = get(&app, &token, &events_path(&query)).await;
        assert_eq!(status, 400, "{why}: {body}");
        assert!(["InvalidRequest", "InvalidContinuationToken"].contains(&error_code(&body)), "{why}: {body}");
    }
    // Without quotes, and with an offset, the window is still understood.
    let (status, body) =
        get(&app, &token, &events_path(&format!("startDateTime={day}T00:00:00Z&endDateTime={day}T01:00:00%2B00:00"))).await;
    assert_eq!(status, 200, "{body}");
    // Non-admins are refused before anything else.
    let (status, body) = get(&app, &app.user_token("owner").await, &events_path(&day_window(today))).await;
    assert_eq!((status, error_code(&body)), (401, "PowerBINotAuthorizedException"));
});

crate::backend_test_with!(
    activity_events_show_once_the_visibility_delay_has_passed,
    |c: &mut pbi_server::config::Config| {
        c.audit.activity_visibility_delay_secs = 1800;
        c.throttling.enabled = false;
    },
    |app: TestApp| async move {
        let at = app.clock.now();
        app.as_user("owner").await.add_group_user(app.ws("Team"), &GroupUser::email(upn("outsider"), R::Viewer)).await.unwrap();
        let token = app.user_token("admin").await;
        let first = events_path(&day_window(at));
        assert!(all_events(&app, &token, &first).await.0.is_empty(), "hidden at first");
        app.clock.advance(std::time::Duration::from_secs(1799));
        assert!(all_events(&app, &token, &first).await.0.is_empty(), "hidden until the delay has passed");
        app.clock.advance(std::time::Duration::from_secs(2));
        let (events, _, _) = all_events(&app, &token, &first).await;
        assert_eq!(activities(&events), vec!["AddGroupMembers"]);
    }
);
