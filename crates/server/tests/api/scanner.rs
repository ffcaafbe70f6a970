//! The scanner API: getInfo → scanStatus → scanResult on the injected clock, the 16-scan limit,
//! and the modified-workspaces list.

use std::time::Duration;

use pbi_server::domain::ArtifactKind;
use pbi_server::Clock;
use pbi_wire::admin::{ScanRequest, WorkspaceInfoResponse};
use pbi_wire::powerbi::{GroupUser, GroupUserAccessRight as R};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::audit::{artifact, error_code, get, grant, insert_artifacts, user};
use crate::helpers::*;
use crate::plain_backend_test;

const GET_INFO: &str = "/v1.0/myorg/admin/workspaces/getInfo";

async fn post(app: &TestApp, token: &str, query: &str, body: &Value) -> (u16, Option<String>, Option<String>, Value) {
    let response = app.http.post(app.url(&format!("{GET_INFO}{query}"))).bearer_auth(token).json(body).send().await.unwrap();
    let status = response.status().as_u16();
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let (location, retry) = (header("location"), header("retry-after"));
    let text = response.text().await.unwrap();
    (status, location, retry, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

plain_backend_test!(a_scan_moves_from_not_started_to_succeeded_and_reports_workspaces, |app: TestApp| async move {
    let token = app.user_token("admin").await;
    let (team, hub) = (app.ws("Team"), app.ws("Marketing Hub"));
    let now = app.clock.now_millis();
    let mut report = artifact(team, ArtifactKind::Report, "Team report", now);
    let dataset = artifact(team, ArtifactKind::Dataset, "Team model", now);
    report.dataset = Some(dataset.id);
    let dataflow = artifact(team, ArtifactKind::Dataflow, "Team flow", now);
    let board = artifact(hub, ArtifactKind::Dashboard, "Hub board", now);
    insert_artifacts(&app, &[report.clone(), dataset.clone(), dataflow.clone(), board.clone()]).await;
    // A direct share to someone outside the workspace, and a stronger right for a Viewer.
    grant(
        &app,
        &[(report.id, user(app.user_id("outsider")), "ReadReshare"), (dataset.id, user(app.user_id("viewer")), "ReadReshareExplore")],
    )
    .await;

    let body = json!({ "workspaces": [team, hub, Uuid::new_v4()] });
    let (status, location, _, scan) = post(&app, &token, "?getArtifactUsers=True&lineage=true&datasourceDetails=false", &body).await;
    assert_eq!(status, 202, "{scan}");
    let scan: ScanRequest = serde_json::from_value(scan).unwrap();
    assert_eq!(scan.status, "NotStarted");
    assert!(scan.created_date_time.ends_with('Z') && scan.created_date_time.len() == "2020-06-15T16:46:28.0487687Z".len());
    let status_url = location.unwrap();
    assert_eq!(status_url, app.url(&format!("/v1.0/myorg/admin/workspaces/scanStatus/{}", scan.id)));
    let result_path = format!("/v1.0/myorg/admin/workspaces/scanResult/{}", scan.id);

    let poll = |expected: &'static str| {
        let (app, token, url) = (&app, token.clone(), status_url.clone());
        async move {
            let response = app.http.get(&url).bearer_auth(&token).send().await.unwrap();
            assert_eq!(response.status().as_u16(), 200);
            let location = response.headers().get("location").map(|v| v.to_str().unwrap().to_string());
            let body: ScanRequest = response.json().await.unwrap();
            assert_eq!(body.status, expected);
            location
        }
    };
    assert_eq!(poll("NotStarted").await, None);
    let (status, body) = get(&app, &token, &result_path).await;
    assert_eq!((status, error_code(&body)), (400, "ScanNotCompleted"));
    app.clock.advance(Duration::from_millis(1000));
    assert_eq!(poll("Running").await, None);
    app.clock.advance(Duration::from_millis(1000));
    assert_eq!(poll("Succeeded").await, Some(app.url(&result_path)));

    let (status, body) = get(&app, &token, &result_path).await;
    assert_eq!(status, 200, "{body}");
    let result: WorkspaceInfoResponse = serde_json::from_value(body.clone()).unwrap();
    assert_eq!(result.workspaces.iter().map(|w| w.id).collect::<Vec<_>>(), vec![team, hub], "unknown ids are left out, order kept");
    let info = &result.workspaces[0];
    assert_eq!((info.kind.as_ref().map(|k| k.as_str()), info.state.as_str()), (Some("Workspace"), "Active"));
    assert_eq!(info.users.as_ref().unwrap().len(), 6);
    assert_eq!(info.reports.len(), 1);
    assert_eq!(info.reports[0].dataset_id.as_deref(), Some(dataset.id.to_string().as_str()));
    let report_users = info.reports[0].users.as_ref().unwrap();
    let right = |users: &[Value], who: &str, field: &str| {
        users.iter().find(|u| u["identifier"] == who).map(|u| u[field].as_str().unwrap().to_string())
    };
    assert_eq!(right(report_users, &upn("owner"), "reportUserAccessRight").as_deref(), Some("Owner"));
    assert_eq!(right(report_users, &upn("member"), "reportUserAccessRight").as_deref(), Some("Owner"), "Members reshare");
    assert_eq!(right(report_users, &upn("contributor"), "reportUserAccessRight").as_deref(), Some("ReadWrite"));
    assert_eq!(right(report_users, &upn("viewer"), "reportUserAccessRight").as_deref(), Some("Read"));
    assert_eq!(right(report_users, &upn("outsider"), "reportUserAccessRight").as_deref(), Some("ReadReshare"));
    assert!(report_users.iter().all(|u| u.get("groupUserAccessRight").is_none() && u["graphId"].is_string()));
    let dataset_users = info.datasets[0].users.as_ref().unwrap();
    assert_eq!(right(dataset_users, &upn("viewer"), "datasetUserAccessRight").as_deref(), Some("ReadReshareExplore"));
    assert_eq!(right(dataset_users, &upn("member"), "datasetUserAccessRight").as_deref(), Some("ReadWriteReshareExplore"));
    assert_eq!(info.dataflows[0].object_id, Some(dataflow.id));
    assert!(info.dataflows[0].users.as_ref().unwrap()[0]["dataflowUserAccessRight"].is_string());
    assert_eq!(result.workspaces[1].dashboards[0].display_name.as_deref(), Some("Hub board"));
    assert_eq!(body["datasourceInstances"], json!([]));

    // Without getArtifactUsers there are no users anywhere.
    let (status, _, _, scan) = post(&app, &token, "", &json!({ "workspaces": [team] })).await;
    assert_eq!(status, 202);
    let id = scan["id"].as_str().unwrap();
    app.clock.advance(Duration::from_secs(3));
    let token = app.token_for(app.tenant_id(), app.app_id(), &upn("admin")).await;
    let (_, body) = get(&app, &token, &format!("/v1.0/myorg/admin/workspaces/scanResult/{id}")).await;
    assert!(body["workspaces"][0].get("users").is_none() && body["workspaces"][0]["reports"][0].get("users").is_none(), "{body}");

    // Another tenant's administrator cannot see the scan; results expire after 24 hours.
    let boss = app.other_tenant_admin_token("other.example").await;
    let (status, body) = get(&app, &boss, &result_path).await;
    assert_eq!((status, error_code(&body)), (404, "PowerBIEntityNotFound"));
    app.clock.advance(Duration::from_secs(24 * 3600));
    let token = app.token_for(app.tenant_id(), app.app_id(), &upn("admin")).await;
    let (status, body) = get(&app, &token, &result_path).await;
    assert_eq!((status, error_code(&body)), (404, "PowerBIEntityNotFound"), "{body}");
});

plain_backend_test!(scan_requests_are_validated, |app: TestApp| async move {
    let token = app.user_token("admin").await;
    let many: Vec<Uuid> = (0..101).map(|_| Uuid::new_v4()).collect();
    for (query, body, why) in [
        ("", json!({ "workspaces": [] }), "no workspaces"),
        ("", json!({ "workspaces": many }), "101 workspaces"),
        ("", json!({ "workspaces": ["not-a-guid"] }), "a bad GUID"),
        ("", json!({ "workspace": [app.ws("Team")] }), "a missing field"),
        ("?lineage=maybe", json!({ "workspaces": [app.ws("Team")] }), "a bad flag"),
    ] {
        let (status, _, _, body) = post(&app, &token, query, &body).await;
        assert_eq!((status, error_code(&body)), (400, "InvalidRequest"), "{why}: {body}");
    }
    let response =
        app.http.post(app.url(GET_INFO)).bearer_auth(&token).header("content-type", "application/json").body("{").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 400);
    for path in ["scanStatus/not-a-guid", "scanResult/not-a-guid"] {
        let (status, body) = get(&app, &token, &format!("/v1.0/myorg/admin/workspaces/{path}")).await;
        assert_eq!((status, error_code(&body)), (400, "InvalidRequest"), "{path}");
    }
    let (status, body) = get(&app, &token, &format!("/v1.0/myorg/admin/workspaces/scanStatus/{}", Uuid::new_v4())).await;
    assert_eq!((status, error_code(&body)), (404, "PowerBIEntityNotFound"));
    let (status, _, _, body) = post(&app, &app.user_token("owner").await, "", &json!({ "workspaces": [app.ws("Team")] })).await;
    assert_eq!((status, error_code(&body)), (401, "PowerBINotAuthorizedException"));
    let (status, _, _, _) = post(&app, &app.app_token().await, "", &json!({ "workspaces": [app.ws("Team")] })).await;
    assert_eq!(status, 202, "a service principal may scan");
});

plain_backend_test!(at_most_sixteen_scans_are_in_flight_per_tenant, |app: TestApp| async move {
    let token = app.user_token("admin").await;
    let body = json!({ "workspaces": [app.ws("Team")] });
    for i in 0..16 {
        let (status, _, _, scan) = post(&app, &token, "", &body).await;
        assert_eq!(status, 202, "scan {i}: {scan}");
    }
    let (status, _, retry, refused) = post(&app, &token, "", &body).await;
    assert_eq!((status, error_code(&refused)), (429, "TooManyRequests"), "{refused}");
    assert_eq!(retry.as_deref(), Some("2"), "seconds until the first scan succeeds");
    // Once they have succeeded, new scans are accepted again.
    app.clock.advance(Duration::from_millis(2000));
    let (status, _, _, accepted) = post(&app, &token, "", &body).await;
    assert_eq!(status, 202, "{accepted}");
});

plain_backend_test!(thirty_two_racing_scans_let_exactly_sixteen_through, |app: TestApp| async move {
    let token = app.user_token("admin").await;
    let body = json!({ "workspaces": [app.ws("Team")] });
    let calls = (0..32).map(|_| post(&app, &token, "", &body));
    let answers = futures::future::join_all(calls).await;
    let accepted = answers.iter().filter(|(status, ..)| *status == 202).count();
    let refused: Vec<_> = answers.iter().filter(|(status, ..)| *status == 429).collect();
    assert_eq!((accepted, refused.len()), (16, 16), "{:?}", answers.iter().map(|a| a.0).collect::<Vec<_>>());
    for (_, _, retry, body) in refused {
        assert_eq!(error_code(body), "TooManyRequests", "{body}");
        assert_eq!(retry.as_deref(), Some("2"), "{body}");
    }
    // Exactly sixteen are stored: the seventeenth is refused until one succeeds.
    let (status, _, _, refused) = post(&app, &token, "", &body).await;
    assert_eq!(status, 429, "{refused}");
    app.clock.advance(Duration::from_millis(2000));
    let answers = futures::future::join_all((0..32).map(|_| post(&app, &token, "", &body))).await;
    assert_eq!(answers.iter().filter(|(status, ..)| *status == 202).count(), 16, "a fresh round after they succeeded");
});

plain_backend_test!(modified_workspaces_since_a_time, |app: TestApp| async move {
    let list = |q: &str| format!("/v1.0/myorg/admin/workspaces/modified{q}");
    let token = app.user_token("admin").await;
    let (status, body) = get(&app, &token, &list("")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.as_array().unwrap().len(), 4, "a bare array of every workspace: {body}");
    assert!(body[0]["id"].is_string());

    app.clock.advance(Duration::from_secs(2 * 3600));
    let token = app.token_for(app.tenant_id(), app.app_id(), &upn("admin")).await;
    let admin = app.client(token.clone());
    admin.add_user_as_admin(app.ws("Team"), &GroupUser::email(upn("outsider"), R::Viewer)).await.unwrap();
    let owner = app.client(app.token_for(app.tenant_id(), app.app_id(), &upn("owner")).await);
    let quarterly = owner.create_group("Quarterly").await.unwrap().id;
    owner.delete_group(quarterly).await.unwrap();
    let since = (app.clock.now() - chrono::Duration::minutes(31)).format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let ids =
        |body: &Value| body.as_array().unwrap().iter().map(|w| w["id"].as_str().unwrap().parse::<Uuid>().unwrap()).collect::<Vec<_>>();
    let (status, body) = get(&app, &token, &list(&format!("?modifiedSince={since}"))).await;
    assert_eq!(status, 200, "{body}");
    let mut expected = vec![app.ws("Team"), quarterly];
    expected.sort();
    assert_eq!(ids(&body), expected);
    let (_, body) =
        get(&app, &token, &list(&format!("?modifiedSince={since}&excludeInActiveWorkspaces=true&excludePersonalWorkspaces=true"))).await;
    assert_eq!(ids(&body), vec![app.ws("Team")], "the deleted workspace is inactive");
    for bad in [
        format!("?modifiedSince={}", (app.clock.now() - chrono::Duration::minutes(10)).format("%Y-%m-%dT%H:%M:%SZ")),
        format!("?modifiedSince={}", (app.clock.now() - chrono::Duration::days(31)).format("%Y-%m-%dT%H:%M:%SZ")),
        "?modifiedSince=last-tuesday".to_string(),
        "?excludePersonalWorkspaces=perhaps".to_string(),
    ] {
        let (status, body) = get(&app, &token, &list(&bad)).await;
        assert_eq!((status, error_code(&body)), (400, "InvalidRequest"), "{bad}: {body}");
    }
});
