//! Artifacts in workspaces, capacities, the admin per-artifact user lists and the tenant
//! snapshot that carries them, over real HTTP on both backends.

use pbi_server::domain::{ArtifactKind, PrincipalKind, Role};
use pbi_server::tenant::{self, ArtifactSpec, GroupMemberSpec, GroupSpec, MemberSpec, TenantSpec, UserSpec, WorkspaceSpec};
use pbi_server::Clock;
use pbi_wire::artifacts::{
    AppUserAccessRight, CapacityUserAccessRight, DashboardUserAccessRight, DataflowUserAccessRight, DatasetUserAccessRight, ReportType,
    ReportUserAccessRight,
};
use pbi_wire::powerbi::PrincipalType;
use serde_json::Value;
use uuid::Uuid;

use crate::backend_test;
use crate::helpers::*;

async fn get_json(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let r = app.http.get(app.url(path)).bearer_auth(token).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

backend_test!(workspace_items_are_listed_with_the_swagger_fields, |app: TestApp| async move {
    let ws = app.ws("Team");
    let token = app.user_token("member").await;
    let (status, body) = get_json(&app, &token, &format!("/v1.0/myorg/groups/{ws}/datasets")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["@odata.context"].as_str().unwrap().ends_with("/v1.0/myorg/$metadata#datasets"));
    let names: Vec<&str> = body["value"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["Sales", "Finance"], "datasets only, in the order they were made");
    let sales = &body["value"][0];
    assert_eq!(sales["id"], app.artifact("Team", "Dataset", "Sales").to_string());
    assert_eq!(sales["configuredBy"], upn("contributor"));
    assert_eq!(sales["description"], "Orders and revenue");
    for key in
        ["addRowsAPIEnabled", "isRefreshable", "isEffectiveIdentityRequired", "isEffectiveIdentityRolesRequired", "isOnPremGatewayRequired"]
    {
        assert!(sales[key].is_boolean(), "{key}: {sales}");
    }
    assert!(sales["createdDate"].as_str().unwrap().ends_with('Z'));

    let member = app.as_user("member").await;
    let reports = member.get_reports_in_group(ws).await.unwrap();
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0].name, "Sales Report");
    assert_eq!(reports[0].report_type, ReportType::PowerBIReport);
    assert_eq!(reports[0].dataset_id.as_deref(), Some(app.artifact("Team", "Dataset", "Sales").to_string().as_str()));
    assert!(reports[0].is_owned_by_me, "member made it");
    assert_eq!(reports[1].report_type, ReportType::PaginatedReport);
    assert_eq!(reports[1].dataset_id, None, "paginated reports have no dataset");
    let (_, raw) = get_json(&app, &token, &format!("/v1.0/myorg/groups/{ws}/reports")).await;
    assert!(raw["value"][1].get("datasetId").is_none());
    assert_eq!(raw["value"][1]["reportType"], "PaginatedReport");

    let dashboards = member.get_dashboards_in_group(ws).await.unwrap();
    assert_eq!(dashboards.iter().map(|d| d.display_name.as_str()).collect::<Vec<_>>(), vec!["Pulse"]);
    let (_, raw) = get_json(&app, &token, &format!("/v1.0/myorg/groups/{ws}/dataflows")).await;
    assert_eq!(raw["value"][0]["objectId"], app.artifact("Team", "Dataflow", "Prep").to_string());
    assert_eq!(raw["value"][0]["configuredBy"], upn("owner"));

    // Single items, with the workspace in the path.
    let sales = member.get_dataset_in_group(ws, &app.artifact("Team", "Dataset", "Sales").to_string()).await.unwrap();
    assert_eq!(sales.name, "Sales");
    let report = member.get_report_in_group(ws, app.artifact("Team", "Report", "Sales Report")).await.unwrap();
    assert_eq!(report.name, "Sales Report");
    let pulse = member.get_dashboard_in_group(ws, app.artifact("Team", "Dashboard", "Pulse")).await.unwrap();
    assert!(!pulse.is_read_only);
    // An item of another workspace, or of another kind, is not found under this one.
    let campaigns = app.artifact("Marketing Hub", "Dataset", "Campaigns").to_string();
    assert_api_error(app.as_user("owner").await.get_dataset_in_group(ws, &campaigns).await, 404, "PowerBIEntityNotFound");
    assert_api_error(member.get_report_in_group(ws, app.artifact("Team", "Dashboard", "Pulse")).await, 404, "PowerBIEntityNotFound");
    assert_api_error(member.get_dataset_in_group(ws, "not-a-guid").await, 404, "PowerBIEntityNotFound");
    // A workspace without items lists none.
    assert!(app.as_user("owner").await.get_datasets_in_group(app.ws("Solo")).await.is_err(), "owner has no role in Solo");
    assert!(app.as_user("owner").await.get_reports_in_group(app.ws("marketing archive")).await.unwrap().is_empty());
});

backend_test!(items_are_visible_through_roles_or_direct_permissions_only, |app: TestApp| async move {
    let ws = app.ws("Team");
    // A Viewer sees every item of the workspace.
    let viewer = app.as_user("viewer").await;
    assert_eq!(viewer.get_datasets_in_group(ws).await.unwrap().len(), 2);
    assert_eq!(viewer.get_reports_in_group(ws).await.unwrap().len(), 2);
    // The outsider has no role, but the Sales dataset and the Prep dataflow are shared with it.
    let outsider = app.as_user("outsider").await;
    let datasets = outsider.get_datasets_in_group(ws).await.unwrap();
    assert_eq!(datasets.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), vec!["Sales"]);
    assert!(outsider.get_reports_in_group(ws).await.unwrap().is_empty());
    assert_eq!(outsider.get_dataflows(ws).await.unwrap().len(), 1);
    outsider.get_dataset_in_group(ws, &app.artifact("Team", "Dataset", "Sales").to_string()).await.unwrap();
    assert_api_error(
        outsider.get_dataset_in_group(ws, &app.artifact("Team", "Dataset", "Finance").to_string()).await,
        404,
        "PowerBIEntityNotFound",
    );
    assert_api_error(outsider.get_report_in_group(ws, app.artifact("Team", "Report", "Sales Report")).await, 404, "PowerBIEntityNotFound");
    // Neither a role nor a share: the workspace does not exist for the caller.
    let member = app.as_user("member").await;
    assert_api_error(member.get_datasets_in_group(app.ws("Solo")).await, 404, "PowerBIEntityNotFound");
    assert_api_error(member.get_datasets_in_group(Uuid::new_v4()).await, 404, "PowerBIEntityNotFound");
    // A service principal with a role sees the items too.
    assert_eq!(app.as_app().await.get_dashboards_in_group(ws).await.unwrap().len(), 1);
    // Deleting the workspace hides its items everywhere, shares included.
    app.as_user("owner").await.delete_group(ws).await.unwrap();
    assert_api_error(outsider.get_datasets_in_group(ws).await, 404, "PowerBIEntityNotFound");
    assert_api_error(viewer.get_reports_in_group(ws).await, 404, "PowerBIEntityNotFound");
    let admin = app.as_user("admin").await;
    assert_api_error(admin.get_dataset_users_as_admin(app.artifact("Team", "Dataset", "Sales")).await, 404, "PowerBIEntityNotFound");
});

backend_test!(items_are_visible_through_groups, |app: TestApp| async move {
    // A tenant where a group holds the role, and another group a direct share.
    let domain = "groups-art.onmicrosoft.com";
    let user = |local: &str| UserSpec {
        upn: format!("{local}@{domain}"),
        display_name: local.into(),
        password: Some(PASSWORD.into()),
        ..Default::default()
    };
    let spec = TenantSpec {
        name: "Groups Art".into(),
        domain: domain.into(),
        users: vec![user("ada"), user("ben"), user("cy")],
        groups: vec![
            GroupSpec {
                display_name: "Role Holders".into(),
                members: vec![GroupMemberSpec { principal: format!("ada@{domain}"), principal_type: PrincipalKind::User }],
                ..Default::default()
            },
            GroupSpec {
                display_name: "Sharees".into(),
                members: vec![GroupMemberSpec { principal: format!("ben@{domain}"), principal_type: PrincipalKind::User }],
                ..Default::default()
            },
        ],
        service_principals: vec![pbi_server::tenant::ServicePrincipalSpec {
            id: None,
            app_id: None,
            display_name: "client".into(),
            secrets: vec![],
            certificates: vec![],
            ..Default::default()
        }],
        workspaces: vec![WorkspaceSpec {
            name: "Shared".into(),
            members: vec![
                MemberSpec { principal: format!("cy@{domain}"), principal_type: PrincipalKind::User, role: Role::Admin },
                MemberSpec { principal: "Role Holders".into(), principal_type: PrincipalKind::Group, role: Role::Viewer },
            ],
            artifacts: vec![
                ArtifactSpec {
                    kind: ArtifactKind::Dataset,
                    name: "Model".into(),
                    permissions: vec![right("Sharees", "Group", "ReadExplore")],
                    ..Default::default()
                },
                ArtifactSpec { kind: ArtifactKind::Dataset, name: "Hidden".into(), ..Default::default() },
            ],
            ..Default::default()
        }],
        ..Default::default()
    };
    let t = app.provision(&spec).await;
    let client = t.service_principals["client"].1;
    let ws = t.workspaces["Shared"];
    let ada = app.client(app.token_for(t.tenant.id, client, &format!("ada@{domain}")).await);
    assert_eq!(ada.get_datasets_in_group(ws).await.unwrap().len(), 2, "a Viewer through a group sees all");
    let ben = app.client(app.token_for(t.tenant.id, client, &format!("ben@{domain}")).await);
    let seen = ben.get_datasets_in_group(ws).await.unwrap();
    assert_eq!(seen.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), vec!["Model"], "a share through a group");
    // ReadExplore through the group: enough to see, not to list users (ReadWriteReshare).
    assert_api_error(
        ben.get_dataset_users(Some(ws), &t.artifact("Shared", "Dataset", "Model").to_string()).await,
        401,
        "PowerBINotAuthorizedException",
    );
});

backend_test!(capacities_list_the_callers_right_and_workspaces_show_their_capacity, |app: TestApp| async move {
    let owner = app.as_user("owner").await.get_capacities().await.unwrap();
    assert_eq!(owner.len(), 1);
    let f64 = &owner[0];
    assert_eq!(
        (f64.display_name.as_str(), f64.sku.as_str(), f64.region.as_str(), f64.state.as_str()),
        ("Fixture F64", "F64", "North Europe", "Active")
    );
    assert_eq!(f64.capacity_user_access_right, CapacityUserAccessRight::Admin);
    assert_eq!(f64.admins, vec![upn("owner")]);
    // member: Assign on F64, Admin on the suspended A1; ordered by name.
    let member = app.as_user("member").await.get_capacities().await.unwrap();
    let seen: Vec<(&str, CapacityUserAccessRight)> =
        member.iter().map(|c| (c.display_name.as_str(), c.capacity_user_access_right)).collect();
    assert_eq!(seen, vec![("Fixture F64", CapacityUserAccessRight::Assign), ("Spare A1", CapacityUserAccessRight::Admin)]);
    assert_eq!(member[1].state, "Suspended");
    assert!(app.as_user("viewer").await.get_capacities().await.unwrap().is_empty());
    let token = app.user_token("owner").await;
    let (_, raw) = get_json(&app, &token, "/v1.0/myorg/capacities").await;
    for key in ["id", "displayName", "admins", "sku", "state", "capacityUserAccessRight", "region"] {
        assert!(raw["value"][0].get(key).is_some(), "{key}: {raw}");
    }
    // The workspace runs on F64.
    let (_, group) = get_json(&app, &token, &format!("/v1.0/myorg/groups/{}", app.ws("Team"))).await;
    assert_eq!(group["isOnDedicatedCapacity"], true);
    assert_eq!(group["capacityId"], app.fixture.capacities["Fixture F64"].to_string());
    // Scopes: a Workspace-only token cannot list capacities.
    let scoped = app.client(app.user_token_scoped("owner", "https://analysis.windows.net/powerbi/api/Workspace.Read.All").await);
    assert_api_error(scoped.get_capacities().await, 401, "PowerBINotAuthorizedException");
});

backend_test!(admin_user_lists_show_roles_and_direct_permissions_per_kind, |app: TestApp| async move {
    let admin = app.as_user("admin").await;
    let rights = |v: Vec<(String, String)>| {
        let mut v = v;
        v.sort();
        v
    };
    // Report: Admin/Member → Owner, Contributor → ReadWrite, Viewer → Read, plus the guest's direct ReadCopy.
    let users = admin.get_report_users_as_admin(app.artifact("Team", "Report", "Sales Report")).await.unwrap();
    let got = rights(users.iter().map(|u| (u.identifier.to_lowercase(), u.report_user_access_right.as_str().to_string())).collect());
    let mut want = vec![
        (upn("owner"), "Owner"),
        (upn("member"), "Owner"),
        (upn("contributor"), "ReadWrite"),
        (upn("viewer"), "Read"),
        (app.app_object_id().to_string(), "Owner"),
        (upn("disabled"), "Read"),
        (GUEST.to_lowercase(), "ReadCopy"),
    ]
    .into_iter()
    .map(|(a, b)| (a, b.to_string()))
    .collect::<Vec<_>>();
    want.sort();
    assert_eq!(got, want);
    let guest = users.iter().find(|u| u.identifier == GUEST).unwrap();
    assert_eq!(guest.graph_id.as_deref(), Some(app.fixture.users[&GUEST.to_lowercase()].to_string().as_str()));
    assert_eq!(guest.user_type.as_deref(), Some("Guest"));
    assert_eq!(guest.email_address.as_deref(), Some("gina@fabrikam.com"));
    assert_eq!(
        users.iter().find(|u| u.principal_type == PrincipalType::App).unwrap().report_user_access_right,
        ReportUserAccessRight::Owner
    );

    // Dataset: the Swagger's role mapping, and direct rights combined with a role.
    let users = admin.get_dataset_users_as_admin(app.artifact("Team", "Dataset", "Sales")).await.unwrap();
    let find = |id: &str| users.iter().find(|u| u.identifier.eq_ignore_ascii_case(id)).unwrap().dataset_user_access_right;
    assert_eq!(find(&upn("owner")), DatasetUserAccessRight::ReadWriteReshareExplore);
    assert_eq!(find(&upn("contributor")), DatasetUserAccessRight::ReadWriteExplore);
    assert_eq!(find(&upn("viewer")), DatasetUserAccessRight::Read);
    assert_eq!(find(&upn("outsider")), DatasetUserAccessRight::ReadReshare);
    assert_eq!(find(&upn("mailuser")), DatasetUserAccessRight::ReadWrite);
    assert_eq!(users.len(), 8);

    // Dashboard shared with a group: the group is listed by object id.
    let users = admin.get_dashboard_users_as_admin(app.artifact("Team", "Dashboard", "Pulse")).await.unwrap();
    let analysts = users.iter().find(|u| u.principal_type == PrincipalType::Group).unwrap();
    assert_eq!(analysts.identifier, app.fixture.groups["Analysts"].to_string());
    assert_eq!(analysts.dashboard_user_access_right, DashboardUserAccessRight::Read);
    assert_eq!(analysts.display_name.as_deref(), Some("Analysts"));

    // Dataflow: the camelCase field despite the Swagger's capital D.
    let id = app.artifact("Team", "Dataflow", "Prep");
    let users = admin.get_dataflow_users_as_admin(id).await.unwrap();
    assert_eq!(users.iter().find(|u| u.identifier == upn("outsider")).unwrap().dataflow_user_access_right, DataflowUserAccessRight::Read);
    let token = app.user_token("admin").await;
    let (_, raw) = get_json(&app, &token, &format!("/v1.0/myorg/admin/dataflows/{id}/users")).await;
    assert!(raw["value"][0].get("dataflowUserAccessRight").is_some() && raw["value"][0].get("DataflowUserAccessRight").is_none(), "{raw}");
    assert!(raw["@odata.context"].as_str().unwrap().ends_with("#dataflowUsers"));

    // App: audiences and roles, no userType.
    let id = app.artifact("Team", "App", "Team App");
    let users = admin.get_app_users_as_admin(id).await.unwrap();
    assert_eq!(users.iter().find(|u| u.identifier == upn("newbie")).unwrap().app_user_access_right, AppUserAccessRight::ReadExplore);
    assert_eq!(users.iter().find(|u| u.identifier == upn("owner")).unwrap().app_user_access_right, AppUserAccessRight::All);
    let (_, raw) = get_json(&app, &token, &format!("/v1.0/myorg/admin/apps/{id}/users")).await;
    assert!(raw["value"].as_array().unwrap().iter().all(|u| u.get("userType").is_none()));

    // Capacity: admins and contributors.
    let users = admin.get_capacity_users_as_admin(app.fixture.capacities["Fixture F64"]).await.unwrap();
    let got: Vec<(String, CapacityUserAccessRight)> = users.iter().map(|u| (u.identifier.clone(), u.capacity_user_access_right)).collect();
    assert_eq!(got.len(), 3);
    assert!(got.contains(&(upn("owner"), CapacityUserAccessRight::Admin)));
    assert!(got.contains(&(upn("member"), CapacityUserAccessRight::Assign)));
    assert!(got.contains(&(app.fixture.groups["Analysts"].to_string(), CapacityUserAccessRight::Assign)));

    // Not found: unknown ids, ids of another kind; bad GUIDs are 400.
    assert_api_error(admin.get_dataset_users_as_admin(Uuid::new_v4()).await, 404, "PowerBIEntityNotFound");
    assert_api_error(admin.get_dataset_users_as_admin(app.artifact("Team", "Report", "Sales Report")).await, 404, "PowerBIEntityNotFound");
    assert_api_error(admin.get_capacity_users_as_admin(Uuid::new_v4()).await, 404, "PowerBIEntityNotFound");
    let (status, raw) = get_json(&app, &token, "/v1.0/myorg/admin/reports/nope/users").await;
    assert_eq!((status, raw["error"]["code"].as_str()), (400, Some("InvalidRequest")));
    // Paginated reports are listed by the report endpoint.
    assert_eq!(admin.get_report_users_as_admin(app.artifact("Team", "PaginatedReport", "Invoices")).await.unwrap().len(), 6);
});

backend_test!(admin_user_lists_need_a_fabric_admin_or_an_allowed_app, |app: TestApp| async move {
    let report = app.artifact("Team", "Report", "Sales Report");
    // The workspace's Admin is not a Fabric administrator.
    assert_api_error(app.as_user("owner").await.get_report_users_as_admin(report).await, 401, "PowerBINotAuthorizedException");
    assert_api_error(
        app.as_user("owner").await.get_capacity_users_as_admin(app.fixture.capacities["Fixture F64"]).await,
        401,
        "PowerBINotAuthorizedException",
    );
    // A service principal may read.
    assert_eq!(app.as_app().await.get_report_users_as_admin(report).await.unwrap().len(), 7);
    // Another tenant's admin does not see this tenant's artifacts.
    let boss = app.client(app.other_tenant_admin_token("other-art.onmicrosoft.com").await);
    assert_api_error(boss.get_report_users_as_admin(report).await, 404, "PowerBIEntityNotFound");
    assert_api_error(boss.get_capacity_users_as_admin(app.fixture.capacities["Fixture F64"]).await, 404, "PowerBIEntityNotFound");
});

backend_test!(tenant_export_round_trips_capacities_artifacts_and_subscriptions, |app: TestApp| async move {
    // A datamart, as the large-tenant seed makes them, with a right only its enum has.
    let mart = crate::audit::artifact(app.ws("Team"), ArtifactKind::Datamart, "Mart", app.clock.now_millis());
    crate::audit::insert_artifacts(&app, std::slice::from_ref(&mart)).await;
    crate::audit::grant(&app, &[(mart.id, crate::audit::user(app.user_id("outsider")), "Explore")]).await;
    let exported = tenant::export(&app.store, app.tenant_id()).await.unwrap().unwrap();
    let team = exported.workspaces.iter().find(|w| w.name == "Team").unwrap();
    assert_eq!(team.capacity.as_deref(), Some(app.fixture.capacities["Fixture F64"].to_string().as_str()));
    assert_eq!(team.artifacts.len(), 9);
    let exported_mart = team.artifacts.iter().find(|a| a.name == "Mart").unwrap();
    assert_eq!((exported_mart.kind, exported_mart.permissions[0].access_right.as_str()), (ArtifactKind::Datamart, "Explore"));
    let report = team.artifacts.iter().find(|a| a.name == "Sales Report").unwrap();
    assert_eq!(report.dataset.as_deref(), Some(app.artifact("Team", "Dataset", "Sales").to_string().as_str()));
    assert_eq!(report.subscriptions.len(), 1);
    assert_eq!(report.subscriptions[0].owner, app.user_id("viewer").to_string());
    assert_eq!(exported.capacities.len(), 2);

    // The exported file reads back word for word.
    let text = serde_json::to_string_pretty(&exported).unwrap();
    let read: TenantSpec = serde_json::from_str(&text).unwrap();
    assert_eq!(serde_json::to_string_pretty(&read).unwrap(), text);

    // Into a fresh database of the same backend: the same tenant comes back, id for id.
    let Some((url, _dir)) = fresh_database(app.backend).await else { return };
    let store = pbi_server::store::Store::connect(&url).await.unwrap();
    tenant::provision(&store, &*app.clock, &read).await.unwrap();
    let again = tenant::export(&store, app.tenant_id()).await.unwrap().unwrap();
    assert_eq!(serde_json::to_value(&again).unwrap(), serde_json::to_value(&exported).unwrap());
    store.close().await;
});

backend_test!(provisioning_refuses_inconsistent_artifacts, |app: TestApp| async move {
    let base = || TenantSpec {
        name: "Bad".into(),
        domain: format!("bad-{}.onmicrosoft.com", Uuid::new_v4().simple()),
        users: vec![UserSpec { upn: "u@bad.test".into(), display_name: "U".into(), ..Default::default() }],
        ..Default::default()
    };
    let with = |artifacts: Vec<ArtifactSpec>, capacity: Option<&str>| TenantSpec {
        workspaces: vec![WorkspaceSpec { name: "W".into(), artifacts, capacity: capacity.map(str::to_string), ..Default::default() }],
        ..base()
    };
    let art = |kind: &str, name: &str| ArtifactSpec { kind: kind.parse().unwrap(), name: name.into(), ..Default::default() };
    let cases = vec![
        ("unknown capacity", with(vec![], Some("Nowhere"))),
        ("report on a missing dataset", with(vec![ArtifactSpec { dataset: Some("Missing".into()), ..art("Report", "R") }], None)),
        (
            "dashboard with a dataset",
            with(vec![art("Dataset", "D"), ArtifactSpec { dataset: Some("D".into()), ..art("Dashboard", "B") }], None),
        ),
        (
            "a dataset right on a report",
            with(vec![ArtifactSpec { permissions: vec![right("u@bad.test", "User", "ReadExplore")], ..art("Report", "R") }], None),
        ),
        (
            "None as a right",
            with(vec![ArtifactSpec { permissions: vec![right("u@bad.test", "User", "None")], ..art("Dataset", "D") }], None),
        ),
        (
            "workbook permissions",
            with(vec![ArtifactSpec { permissions: vec![right("u@bad.test", "User", "Read")], ..art("Workbook", "W") }], None),
        ),
        (
            "two permissions for one principal",
            with(
                vec![ArtifactSpec {
                    permissions: vec![right("u@bad.test", "User", "Read"), right("u@bad.test", "User", "ReadExplore")],
                    ..art("Dataset", "D")
                }],
                None,
            ),
        ),
        ("empty name", with(vec![art("Dataset", " ")], None)),
    ];
    for (what, spec) in cases {
        let err = tenant::provision(&app.store, &*app.clock, &spec).await.err().unwrap_or_else(|| panic!("{what}: accepted"));
        assert!(matches!(err, tenant::ProvisionError::Invalid(_)), "{what}: {err}");
    }
    // Nothing of a refused spec was written.
    assert!(app.store.list_tenants().await.unwrap().iter().all(|t| t.name != "Bad"));
});
