//! The lists a client reads to find item ids: apps, "My workspace" and single reads, the admin
//! item lists with `$filter`/`$top`/`$skip` and their own budgets, over real HTTP on both backends.

use std::time::Duration;

use pbi_server::domain::{ArtifactKind, PrincipalKind, Role};
use pbi_server::tenant::{ArtifactSpec, MemberSpec, ServicePrincipalSpec, TenantSpec, UserSpec, WorkspaceSpec};
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::*;
use crate::{backend_test, backend_test_with};

async fn get_json(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let r = app.http.get(app.url(path)).bearer_auth(token).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn names(body: &Value) -> Vec<String> {
    let mut v: Vec<String> = body["value"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap().to_string()).collect();
    v.sort();
    v
}

backend_test!(apps_list_what_the_caller_can_open_with_their_reports_and_dashboards, |app: TestApp| async move {
    let team_app = app.artifact("Team", "App", "Team App");
    // The workspace's Admin and a Viewer reach the app through their roles.
    for who in ["viewer", "owner"] {
        let token = app.user_token(who).await;
        let (status, body) = get_json(&app, &token, "/v1.0/myorg/apps").await;
        assert_eq!(status, 200, "{who}: {body}");
        assert!(body["@odata.context"].as_str().unwrap().ends_with("/v1.0/myorg/$metadata#apps"), "{body}");
        assert_eq!(names(&body), vec!["Team App"], "{who}");
        let item = &body["value"][0];
        assert_eq!(item["id"], team_app.to_string());
        assert!(item["lastUpdate"].as_str().unwrap().ends_with('Z'), "{item}");
        assert!(item.get("workspaceId").is_none(), "only the admin list carries workspaceId: {item}");
    }
    let token = app.user_token("viewer").await;
    let (status, one) = get_json(&app, &token, &format!("/v1.0/myorg/apps/{team_app}")).await;
    assert_eq!((status, one["name"].as_str()), (200, Some("Team App")), "{one}");
    // The app publishes its workspace's reports and dashboards.
    let (status, reports) = get_json(&app, &token, &format!("/v1.0/myorg/apps/{team_app}/reports")).await;
    assert_eq!(status, 200, "{reports}");
    assert_eq!(names(&reports), vec!["Invoices", "Sales Report"]);
    let report = app.artifact("Team", "Report", "Sales Report");
    let (status, one) = get_json(&app, &token, &format!("/v1.0/myorg/apps/{team_app}/reports/{report}")).await;
    assert_eq!((status, one["datasetId"].as_str()), (200, Some(app.artifact("Team", "Dataset", "Sales").to_string().as_str())));
    let (status, dashboards) = get_json(&app, &token, &format!("/v1.0/myorg/apps/{team_app}/dashboards")).await;
    assert_eq!(status, 200);
    assert_eq!(dashboards["value"][0]["displayName"], "Pulse");
    let pulse = app.artifact("Team", "Dashboard", "Pulse");
    let (status, _) = get_json(&app, &token, &format!("/v1.0/myorg/apps/{team_app}/dashboards/{pulse}")).await;
    assert_eq!(status, 200);
    // A dashboard id as a report of the app, an unknown app, an app the caller cannot open: 404.
    let (status, body) = get_json(&app, &token, &format!("/v1.0/myorg/apps/{team_app}/reports/{pulse}")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("PowerBIEntityNotFound")), "{body}");
    let (status, _) = get_json(&app, &token, &format!("/v1.0/myorg/apps/{}", Uuid::new_v4())).await;
    assert_eq!(status, 404);
    let outsider = app.user_token("outsider").await;
    let (status, body) = get_json(&app, &outsider, "/v1.0/myorg/apps").await;
    assert_eq!((status, body["value"].as_array().unwrap().len()), (200, 0));
    let (status, _) = get_json(&app, &outsider, &format!("/v1.0/myorg/apps/{team_app}/reports")).await;
    assert_eq!(status, 404);
    // Service principals are refused, as the reference says.
    let (status, body) = get_json(&app, &app.app_token().await, "/v1.0/myorg/apps").await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("PowerBINotAuthorizedException")), "{body}");
    // App.Read.All is the scope.
    let scoped = app.user_token_scoped("viewer", "https://analysis.windows.net/powerbi/api/Report.Read.All").await;
    let (status, _) = get_json(&app, &scoped, "/v1.0/myorg/apps").await;
    assert_eq!(status, 401);
});

backend_test!(my_workspace_lists_and_single_reads_find_items_outside_workspaces, |app: TestApp| async move {
    let domain = "mine.onmicrosoft.com";
    let user = |local: &str| UserSpec {
        upn: format!("{local}@{domain}"),
        display_name: local.into(),
        password: Some(PASSWORD.into()),
        ..Default::default()
    };
    let spec = TenantSpec {
        name: "Mine".into(),
        domain: domain.into(),
        users: vec![user("ada"), user("ben")],
        service_principals: vec![ServicePrincipalSpec { display_name: "client".into(), ..Default::default() }],
        workspaces: vec![
            WorkspaceSpec {
                name: "PersonalWorkspace ada".into(),
                personal: true,
                members: vec![MemberSpec { principal: format!("ada@{domain}"), principal_type: PrincipalKind::User, role: Role::Admin }],
                artifacts: vec![
                    ArtifactSpec { kind: ArtifactKind::Dataset, name: "Scratch".into(), ..Default::default() },
                    ArtifactSpec {
                        kind: ArtifactKind::Report,
                        name: "Draft".into(),
                        dataset: Some("Scratch".into()),
                        ..Default::default()
                    },
                    ArtifactSpec { kind: ArtifactKind::Dashboard, name: "Mine".into(), ..Default::default() },
                ],
                ..Default::default()
            },
            WorkspaceSpec {
                name: "Team".into(),
                members: vec![MemberSpec { principal: format!("ben@{domain}"), principal_type: PrincipalKind::User, role: Role::Admin }],
                artifacts: vec![
                    ArtifactSpec { kind: ArtifactKind::Dataset, name: "Sales".into(), ..Default::default() },
                    ArtifactSpec {
                        kind: ArtifactKind::Report,
                        name: "Shared Report".into(),
                        dataset: Some("Sales".into()),
                        permissions: vec![right(&format!("ada@{domain}"), "User", "Read")],
                        ..Default::default()
                    },
                    ArtifactSpec {
                        kind: ArtifactKind::Report,
                        name: "Team Only".into(),
                        dataset: Some("Sales".into()),
                        ..Default::default()
                    },
                    ArtifactSpec {
                        kind: ArtifactKind::App,
                        name: "Team App".into(),
                        permissions: vec![right(&format!("ada@{domain}"), "User", "Read")],
                        ..Default::default()
                    },
                    ArtifactSpec {
                        kind: ArtifactKind::Dataflow,
                        name: "Prep".into(),
                        description: Some("Cleans orders".into()),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let t = app.provision(&spec).await;
    let client = t.service_principals["client"].1;
    let ada = app.token_for(t.tenant.id, client, &format!("ada@{domain}")).await;
    let ben = app.token_for(t.tenant.id, client, &format!("ben@{domain}")).await;
    // "My workspace" datasets and dashboards; reports also those shared with the caller.
    let (status, body) = get_json(&app, &ada, "/v1.0/myorg/datasets").await;
    assert_eq!((status, names(&body)), (200, vec!["Scratch".to_string()]), "{body}");
    let (_, body) = get_json(&app, &ada, "/v1.0/myorg/reports").await;
    assert_eq!(names(&body), vec!["Draft", "Shared Report"]);
    let (_, body) = get_json(&app, &ada, "/v1.0/myorg/dashboards").await;
    assert_eq!(body["value"].as_array().unwrap().len(), 1);
    assert_eq!(body["value"][0]["displayName"], "Mine");
    // An app audience reaches the app without a role.
    let (status, body) = get_json(&app, &ada, "/v1.0/myorg/apps").await;
    assert_eq!((status, names(&body)), (200, vec!["Team App".to_string()]), "{body}");
    // Ben has no "My workspace": a role in Team does not put its items there.
    let (_, body) = get_json(&app, &ben, "/v1.0/myorg/datasets").await;
    assert!(body["value"].as_array().unwrap().is_empty(), "{body}");
    // Single reads: anything the caller holds a right on.
    let sales = t.artifact("Team", "Dataset", "Sales");
    let (status, body) = get_json(&app, &ben, &format!("/v1.0/myorg/datasets/{sales}")).await;
    assert_eq!((status, body["name"].as_str()), (200, Some("Sales")), "{body}");
    assert!(body["@odata.context"].as_str().unwrap().ends_with("$metadata#datasets/$entity"));
    let (status, _) = get_json(&app, &ada, &format!("/v1.0/myorg/datasets/{sales}")).await;
    assert_eq!(status, 404, "ada holds nothing on Sales");
    let shared = t.artifact("Team", "Report", "Shared Report");
    let (status, body) = get_json(&app, &ada, &format!("/v1.0/myorg/reports/{shared}")).await;
    assert_eq!((status, body["reportType"].as_str()), (200, Some("PowerBIReport")), "{body}");
    let team_only = t.artifact("Team", "Report", "Team Only");
    let (status, body) = get_json(&app, &ada, &format!("/v1.0/myorg/reports/{team_only}")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("PowerBIEntityNotFound")));
    let mine = t.artifact("PersonalWorkspace ada", "Dashboard", "Mine");
    let (status, _) = get_json(&app, &ada, &format!("/v1.0/myorg/dashboards/{mine}")).await;
    assert_eq!(status, 200);
    let (status, _) = get_json(&app, &ben, &format!("/v1.0/myorg/dashboards/{mine}")).await;
    assert_eq!(status, 404);
    let (status, body) = get_json(&app, &ada, "/v1.0/myorg/reports/not-a-guid").await;
    assert_eq!(status, 400, "{body}");
    // One dataflow's definition (model.json).
    let team = t.workspaces["Team"];
    let prep = t.artifact("Team", "Dataflow", "Prep");
    let (status, body) = get_json(&app, &ben, &format!("/v1.0/myorg/groups/{team}/dataflows/{prep}")).await;
    assert_eq!((status, body["name"].as_str(), body["description"].as_str()), (200, Some("Prep"), Some("Cleans orders")), "{body}");
    assert!(body["entities"].as_array().unwrap().is_empty());
    let (status, _) = get_json(&app, &ada, &format!("/v1.0/myorg/groups/{team}/dataflows/{prep}")).await;
    assert_eq!(status, 404);
    // The personal workspace survives an export.
    let exported = pbi_server::tenant::export(&app.store, t.tenant.id).await.unwrap().unwrap();
    assert!(exported.workspaces.iter().any(|w| w.personal && w.name == "PersonalWorkspace ada"));
    assert!(exported.workspaces.iter().any(|w| !w.personal && w.name == "Team"));
});

backend_test!(admin_item_lists_filter_page_and_carry_the_workspace, |app: TestApp| async move {
    let admin = app.user_token("admin").await;
    let team = app.ws("Team").to_string();
    let (status, body) = get_json(&app, &admin, "/v1.0/myorg/admin/reports").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(names(&body), vec!["Invoices", "Sales Report"]);
    for item in body["value"].as_array().unwrap() {
        assert_eq!(item["workspaceId"], team, "{item}");
        assert!(item.get("reportType").is_some());
    }
    let (_, body) = get_json(&app, &admin, "/v1.0/myorg/admin/datasets").await;
    assert_eq!(names(&body), vec!["Campaigns", "Finance", "Sales"]);
    assert!(body["value"][0].get("addRowsAPIEnabled").is_some(), "{body}");
    // $filter over name (any case), id and workspaceId.
    let (status, body) = get_json(&app, &admin, &format!("/v1.0/myorg/admin/datasets?$filter=workspaceId eq '{team}'")).await;
    assert_eq!((status, names(&body)), (200, vec!["Finance".to_string(), "Sales".to_string()]), "{body}");
    let (_, body) = get_json(&app, &admin, "/v1.0/myorg/admin/datasets?$filter=contains(name,'CAMP')").await;
    assert_eq!(names(&body), vec!["Campaigns"]);
    let sales = app.artifact("Team", "Dataset", "Sales");
    let (_, body) = get_json(&app, &admin, &format!("/v1.0/myorg/admin/datasets?$filter=id eq '{sales}'")).await;
    assert_eq!(names(&body), vec!["Sales"]);
    // $top and $skip page through a stable order (in a fresh minute: 5 list calls a minute).
    app.clock.advance(Duration::from_secs(61));
    let (_, first) = get_json(&app, &admin, "/v1.0/myorg/admin/datasets?$top=2").await;
    let (_, rest) = get_json(&app, &admin, "/v1.0/myorg/admin/datasets?$top=2&$skip=2").await;
    assert_eq!(first["value"].as_array().unwrap().len(), 2);
    assert_eq!(rest["value"].as_array().unwrap().len(), 1);
    let mut all = names(&first);
    all.extend(names(&rest));
    all.sort();
    assert_eq!(all, vec!["Campaigns", "Finance", "Sales"]);
    app.clock.advance(Duration::from_secs(61));
    // Dashboards accept $expand=tiles; dataflows carry objectId.
    let (status, body) = get_json(&app, &admin, "/v1.0/myorg/admin/dashboards?$expand=tiles").await;
    assert_eq!((status, body["value"][0]["displayName"].as_str()), (200, Some("Pulse")), "{body}");
    assert_eq!(body["value"][0]["workspaceId"], team);
    let (status, body) = get_json(&app, &admin, "/v1.0/myorg/admin/dataflows").await;
    assert_eq!((status, body["value"][0]["objectId"].as_str()), (200, Some(app.artifact("Team", "Dataflow", "Prep").to_string().as_str())));
    // Apps: $top is required.
    let (status, body) = get_json(&app, &admin, "/v1.0/myorg/admin/apps").await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("InvalidRequest")), "{body}");
    let (status, body) = get_json(&app, &admin, "/v1.0/myorg/admin/apps?$top=10").await;
    assert_eq!((status, body["value"][0]["name"].as_str()), (200, Some("Team App")), "{body}");
    assert_eq!(body["value"][0]["workspaceId"], team);
    // Bad paging and filters are 400s in the Power BI dialect; non-admins are refused.
    for bad in [
        "apps?$top=0",
        "apps?$top=5001",
        "apps?$top=x",
        "dataflows?$skip=-1",
        "dataflows?$filter=state eq 'x'",
        "dataflows?$filter=name eq",
    ] {
        let (status, body) = get_json(&app, &admin, &format!("/v1.0/myorg/admin/{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"]["code"].is_string(), "{bad}: {body}");
    }
    let (status, _) = get_json(&app, &app.user_token("owner").await, "/v1.0/myorg/admin/dataflows").await;
    assert_eq!(status, 401);
});

backend_test_with!(
    admin_report_dataset_and_dashboard_lists_have_their_own_five_a_minute,
    |c: &mut pbi_server::config::Config| c.throttling.items_as_admin_per_minute = 2,
    |app: TestApp| async move {
        let admin = app.user_token("admin").await;
        for _ in 0..2 {
            assert_eq!(get_json(&app, &admin, "/v1.0/myorg/admin/reports").await.0, 200);
        }
        let r = app.http.get(app.url("/v1.0/myorg/admin/reports")).bearer_auth(&admin).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 429);
        assert!(r.headers().contains_key("retry-after"));
        // Each list counts apart; the admin budget is still there.
        assert_eq!(get_json(&app, &admin, "/v1.0/myorg/admin/datasets").await.0, 200);
        assert_eq!(get_json(&app, &admin, "/v1.0/myorg/admin/dataflows").await.0, 200);
        app.clock.advance(Duration::from_secs(61));
        assert_eq!(get_json(&app, &admin, "/v1.0/myorg/admin/reports").await.0, 200);
    }
);

backend_test_with!(
    item_lists_answer_odd_input_without_a_server_error,
    |c: &mut pbi_server::config::Config| c.throttling.enabled = false,
    |app: TestApp| async move {
        let admin = app.user_token("admin").await;
        let app_id = app.artifact("Team", "App", "Team App");
        let paths = [
            "/v1.0/myorg/apps".to_string(),
            format!("/v1.0/myorg/apps/{app_id}"),
            format!("/v1.0/myorg/apps/{app_id}/reports/x"),
            format!("/v1.0/myorg/apps/{app_id}/dashboards/{}", Uuid::nil()),
            "/v1.0/myorg/datasets/%27".into(),
            format!("/v1.0/myorg/groups/{}/dataflows/{}", Uuid::nil(), Uuid::nil()),
            "/v1.0/myorg/admin/apps".into(),
            "/v1.0/myorg/admin/reports".into(),
            "/v1.0/myorg/admin/datasets".into(),
            "/v1.0/myorg/admin/dashboards".into(),
            "/v1.0/myorg/admin/dataflows".into(),
        ];
        let queries = [
            "",
            "?$top=1",
            "?$top=-1&$skip=99999999999",
            "?$top=2147483648",
            "?$filter=%27",
            "?$filter=name%20eq%20%27%E2%9C%93%27",
            "?$filter=(((((((((((((((((((((((((((((((((((name eq 'a')))))))))))))))))))))))))))))))))))",
            "?$expand=users",
            "?$skip=abc",
        ];
        for path in &paths {
            for q in queries {
                let r = app.http.get(app.url(&format!("{path}{q}"))).bearer_auth(&admin).send().await.unwrap();
                assert!(r.status().as_u16() < 500, "{path}{q}: {}", r.status());
            }
        }
    }
);
