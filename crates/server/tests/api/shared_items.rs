//! Deployment pipeline users and gateway data source users, from the tenant snapshot.

use pbi_wire::artifact_users::{DatasourceUser, DatasourceUserAccessRight, PipelineUser, PipelineUserAccessRight};
use pbi_wire::powerbi::PrincipalType;

use crate::backend_test;
use crate::helpers::{assert_api_error, upn, TestApp};

/// The pipeline; the clock moves past the fixture's writes, so entries added now list after them.
fn pipeline(app: &TestApp) -> uuid::Uuid {
    app.clock.advance(std::time::Duration::from_secs(1));
    app.fixture.pipelines["Release"]
}

fn datasource(app: &TestApp) -> (uuid::Uuid, uuid::Uuid) {
    app.clock.advance(std::time::Duration::from_secs(1));
    (app.fixture.gateways["On-premises"], app.fixture.datasources[&("On-premises".to_string(), "Warehouse".to_string())])
}

fn admin_entry(identifier: &str, principal_type: PrincipalType) -> PipelineUser {
    PipelineUser { identifier: identifier.into(), principal_type, access_right: Some(PipelineUserAccessRight::Admin) }
}

backend_test!(pipeline_admins_list_add_and_remove_pipeline_users, |app: TestApp| async move {
    let id = pipeline(&app);
    let owner = app.as_user("owner").await;
    let users = owner.get_pipeline_users(id, false).await.unwrap();
    let names: Vec<_> = users.iter().map(|u| (u.identifier.clone(), u.principal_type)).collect();
    let analysts = app.fixture.groups["Analysts"].to_string();
    assert_eq!(names, vec![(upn("owner"), PrincipalType::User), (analysts.clone(), PrincipalType::Group)]);
    assert!(users.iter().all(|u| u.access_right == Some(PipelineUserAccessRight::Admin)));

    owner.update_pipeline_user(id, &admin_entry(&upn("member"), PrincipalType::User), false).await.unwrap();
    // Adding an Admin twice changes nothing.
    owner.update_pipeline_user(id, &admin_entry(&upn("member"), PrincipalType::User), false).await.unwrap();
    let users = owner.get_pipeline_users(id, false).await.unwrap();
    assert_eq!(users.len(), 3);
    assert_eq!(users[2].identifier, upn("member"));
    // The new Admin may manage the pipeline itself.
    let member = app.as_user("member").await;
    member.delete_pipeline_user(id, &analysts, false).await.unwrap();
    let left: Vec<_> = member.get_pipeline_users(id, false).await.unwrap().into_iter().map(|u| u.identifier).collect();
    assert_eq!(left, vec![upn("owner"), upn("member")]);
    assert_api_error(member.delete_pipeline_user(id, &upn("viewer"), false).await, 404, "PowerBIEntityNotFound");
});

backend_test!(a_pipeline_keeps_its_last_admin_and_hides_from_outsiders, |app: TestApp| async move {
    let id = pipeline(&app);
    let outsider = app.as_user("outsider").await;
    assert_api_error(outsider.get_pipeline_users(id, false).await, 404, "PowerBIEntityNotFound");
    assert_api_error(
        outsider.update_pipeline_user(id, &admin_entry(&upn("outsider"), PrincipalType::User), false).await,
        404,
        "PowerBIEntityNotFound",
    );
    assert_api_error(outsider.get_pipeline_users(uuid::Uuid::new_v4(), false).await, 404, "PowerBIEntityNotFound");
    let owner = app.as_user("owner").await;
    owner.delete_pipeline_user(id, &app.fixture.groups["Analysts"].to_string(), false).await.unwrap();
    assert_api_error(owner.delete_pipeline_user(id, &upn("owner"), false).await, 400, "CannotRemoveLastAdmin");
    assert_api_error(
        owner.update_pipeline_user(id, &admin_entry(&upn("nobody"), PrincipalType::User), false).await,
        400,
        "PrincipalNotFound",
    );
});

backend_test!(fabric_admins_manage_any_pipeline_through_the_admin_endpoints, |app: TestApp| async move {
    let id = pipeline(&app);
    let admin = app.as_user("admin").await;
    // Not a pipeline Admin: the user endpoint hides the pipeline, the admin endpoint does not.
    assert_api_error(admin.get_pipeline_users(id, false).await, 404, "PowerBIEntityNotFound");
    assert_eq!(admin.get_pipeline_users(id, true).await.unwrap().len(), 2);
    admin.update_pipeline_user(id, &admin_entry(&upn("viewer"), PrincipalType::User), true).await.unwrap();
    admin.delete_pipeline_user(id, &upn("owner"), true).await.unwrap();
    let users: Vec<_> = admin.get_pipeline_users(id, true).await.unwrap().into_iter().map(|u| u.identifier).collect();
    assert_eq!(users, vec![app.fixture.groups["Analysts"].to_string(), upn("viewer")]);
    // A non-admin user cannot use the admin endpoints.
    assert!(app.as_user("owner").await.get_pipeline_users(id, true).await.is_err());
});

fn datasource_user(email: &str, right: DatasourceUserAccessRight) -> DatasourceUser {
    DatasourceUser {
        datasource_access_right: right,
        email_address: Some(email.into()),
        display_name: None,
        identifier: None,
        principal_type: Some(PrincipalType::User),
        profile: None,
    }
}

backend_test!(gateway_admins_grant_change_and_remove_data_source_users, |app: TestApp| async move {
    let (gateway, ds) = datasource(&app);
    let owner = app.as_user("owner").await;
    let users = owner.get_datasource_users(gateway, ds).await.unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].email_address.as_deref(), Some(upn("member").as_str()));
    assert_eq!(users[0].datasource_access_right, DatasourceUserAccessRight::Read);
    assert_eq!(users[0].display_name.as_deref(), Some("Max Member"));

    owner.add_datasource_user(gateway, ds, &datasource_user(&upn("viewer"), DatasourceUserAccessRight::Read)).await.unwrap();
    owner
        .add_datasource_user(gateway, ds, &datasource_user(&upn("member"), DatasourceUserAccessRight::ReadOverrideEffectiveIdentity))
        .await
        .unwrap();
    let users = owner.get_datasource_users(gateway, ds).await.unwrap();
    let rights: Vec<_> = users.iter().map(|u| (u.identifier.clone().unwrap(), u.datasource_access_right.clone())).collect();
    assert_eq!(
        rights,
        vec![(upn("member"), DatasourceUserAccessRight::ReadOverrideEffectiveIdentity), (upn("viewer"), DatasourceUserAccessRight::Read)]
    );
    // `None` removes the right; DELETE removes one by email.
    owner.add_datasource_user(gateway, ds, &datasource_user(&upn("viewer"), DatasourceUserAccessRight::None)).await.unwrap();
    owner.delete_datasource_user(gateway, ds, &upn("member")).await.unwrap();
    assert!(owner.get_datasource_users(gateway, ds).await.unwrap().is_empty());
    assert_api_error(owner.delete_datasource_user(gateway, ds, &upn("member")).await, 404, "PowerBIEntityNotFound");
});

backend_test!(data_sources_hide_from_callers_who_do_not_administer_the_gateway, |app: TestApp| async move {
    let (gateway, ds) = datasource(&app);
    // member holds Read on the data source but does not administer the gateway.
    let member = app.as_user("member").await;
    assert_api_error(member.get_datasource_users(gateway, ds).await, 404, "PowerBIEntityNotFound");
    assert_api_error(
        member.add_datasource_user(gateway, ds, &datasource_user(&upn("member"), DatasourceUserAccessRight::Read)).await,
        404,
        "PowerBIEntityNotFound",
    );
    // The gateway's service principal Admin sees it; the data source under another gateway id does not exist.
    let app_client = app.as_app().await;
    assert_eq!(app_client.get_datasource_users(gateway, ds).await.unwrap().len(), 1);
    assert_api_error(app_client.get_datasource_users(uuid::Uuid::new_v4(), ds).await, 404, "PowerBIEntityNotFound");
});
