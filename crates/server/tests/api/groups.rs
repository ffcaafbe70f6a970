use crate::backend_test;
use crate::helpers::*;

fn names(list: &pbi_wire::ODataList<pbi_wire::powerbi::Group>) -> Vec<&str> {
    list.value.iter().map(|g| g.name.as_str()).collect()
}

backend_test!(lists_only_workspaces_the_caller_has_a_role_in, |app: TestApp| async move {
    let owner = app.as_user("owner").await;
    let all = owner.get_groups(None, None, None).await.unwrap();
    assert_eq!(names(&all), vec!["marketing archive", "Marketing Hub", "Team"]);
    assert!(all.odata_context.unwrap().ends_with("/v1.0/myorg/$metadata#groups"));
    let outsider = app.as_user("outsider").await;
    assert_eq!(names(&outsider.get_groups(None, None, None).await.unwrap()), vec!["Solo"]);
    let app_client = app.as_app().await;
    assert_eq!(names(&app_client.get_groups(None, None, None).await.unwrap()), vec!["Team"]);
});

backend_test!(filters_top_and_skip, |app: TestApp| async move {
    let owner = app.as_user("owner").await;
    assert_eq!(names(&owner.get_groups(Some("name eq 'team'"), None, None).await.unwrap()), vec!["Team"]);
    let id = app.ws("Solo");
    assert!(owner.get_groups(Some(&format!("id eq '{id}'")), None, None).await.unwrap().value.is_empty(), "no role in Solo");
    let team = app.ws("Team");
    assert_eq!(names(&owner.get_groups(Some(&format!("id eq '{team}'")), None, None).await.unwrap()), vec!["Team"]);
    assert_eq!(
        names(&owner.get_groups(Some("contains(name,'MARKETING')"), None, None).await.unwrap()),
        vec!["marketing archive", "Marketing Hub"]
    );
    assert_eq!(
        names(&owner.get_groups(Some("contains(name,'marketing') or name eq 'Team'"), Some(2), Some(1)).await.unwrap()),
        vec!["Marketing Hub", "Team"]
    );
    assert_eq!(names(&owner.get_groups(Some("not contains(name,'market')"), None, None).await.unwrap()), vec!["Team"]);
    assert_eq!(
        names(&owner.get_groups(Some("contains(name,'%')"), None, None).await.unwrap()),
        Vec::<&str>::new(),
        "LIKE wildcards are literal"
    );
    assert_api_error(owner.get_groups(Some("name gt 'a'"), None, None).await, 400, "InvalidRequest");
    assert_api_error(owner.get_groups(Some("description eq 'a'"), None, None).await, 400, "InvalidRequest");
    let r = app.http.get(app.url("/v1.0/myorg/groups?$top=-1")).bearer_auth(app.user_token("owner").await).send().await.unwrap();
    assert_eq!(r.status(), 400);
});

backend_test!(creating_a_workspace_makes_the_caller_admin, |app: TestApp| async move {
    let member = app.as_user("member").await;
    let created = member.create_group("  Brand New  ").await.unwrap();
    assert_eq!(created.name, "Brand New");
    let users = member.get_group_users(created.id).await.unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].identifier.as_deref(), Some(upn("member").as_str()));
    assert_eq!(users[0].group_user_access_right.as_str(), "Admin");
    assert_api_error(member.create_group("brand new").await, 400, "PowerBIEntityAlreadyExists");
    assert_api_error(member.create_group("   ").await, 400, "InvalidRequest");
    let app_client = app.as_app().await;
    let by_app = app_client.create_group("Made by app").await.unwrap();
    assert_eq!(app_client.get_group_users(by_app.id).await.unwrap()[0].principal_type, Some(pbi_wire::powerbi::PrincipalType::App));
});

backend_test!(only_an_admin_deletes_a_workspace, |app: TestApp| async move {
    let team = app.ws("Team");
    assert_api_error(app.as_user("member").await.delete_group(team).await, 401, "PowerBINotAuthorizedException");
    assert_api_error(app.as_user("outsider").await.delete_group(team).await, 404, "PowerBIEntityNotFound");
    let owner = app.as_user("owner").await;
    owner.delete_group(team).await.unwrap();
    assert_api_error(owner.get_group_users(team).await, 404, "PowerBIEntityNotFound");
    assert!(!names(&owner.get_groups(None, None, None).await.unwrap()).contains(&"Team"));
    // The name is free again.
    owner.create_group("Team").await.unwrap();
});

backend_test!(admins_rename_a_workspace_with_patch, |app: TestApp| async move {
    let team = app.ws("Team");
    let path = format!("/v1.0/myorg/groups/{team}");
    let json = |v: serde_json::Value| Some(("application/json", v.to_string().into_bytes()));
    let owner = app.user_token("owner").await;
    let (status, _, _) =
        app.call(reqwest::Method::PATCH, &path, Some(&owner), json(serde_json::json!({"name": "Team Renamed"})), &[]).await;
    assert_eq!(status, 200);
    let renamed = app.as_user("owner").await.get_group(team).await.unwrap();
    assert_eq!(renamed.name, "Team Renamed");
    assert!(app.activity_events().await.iter().any(|e| e["Activity"] == "UpdateFolder" && e["WorkSpaceName"] == "Team Renamed"));
    // A name another workspace has, a Member's call, an outsider's, a bad storage format.
    let (status, body, _) =
        app.call(reqwest::Method::PATCH, &path, Some(&owner), json(serde_json::json!({"name": "Marketing Hub"})), &[]).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("PowerBIEntityAlreadyExists")));
    let member = app.user_token("member").await;
    let (status, body, _) = app.call(reqwest::Method::PATCH, &path, Some(&member), json(serde_json::json!({"name": "Mine"})), &[]).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("PowerBINotAuthorizedException")));
    let outsider = app.user_token("outsider").await;
    let (status, _, _) = app.call(reqwest::Method::PATCH, &path, Some(&outsider), json(serde_json::json!({"name": "Mine"})), &[]).await;
    assert_eq!(status, 404);
    let (status, _, _) =
        app.call(reqwest::Method::PATCH, &path, Some(&owner), json(serde_json::json!({"defaultDatasetStorageFormat": "Huge"})), &[]).await;
    assert_eq!(status, 400);
    assert_eq!(app.as_user("owner").await.get_group(team).await.unwrap().name, "Team Renamed");
});

backend_test!(refresh_user_permissions_answers_once_an_hour_per_caller, |app: TestApp| async move {
    let token = app.user_token("viewer").await;
    let (status, _, _) = app.call(reqwest::Method::POST, "/v1.0/myorg/RefreshUserPermissions", Some(&token), None, &[]).await;
    assert_eq!(status, 200);
    let (status, body, headers) = app.call(reqwest::Method::POST, "/v1.0/myorg/RefreshUserPermissions", Some(&token), None, &[]).await;
    assert_eq!((status, body["error"]["code"].as_str()), (429, Some("TooManyRequests")));
    assert!(headers.get("retry-after").is_some());
    // Another caller has its own budget.
    let other = app.user_token("owner").await;
    let (status, _, _) = app.call(reqwest::Method::POST, "/v1.0/myorg/RefreshUserPermissions", Some(&other), None, &[]).await;
    assert_eq!(status, 200);
});
