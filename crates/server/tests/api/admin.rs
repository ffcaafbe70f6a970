use pbi_wire::powerbi::{GroupUser, GroupUserAccessRight as R, PrincipalType as P};

use crate::backend_test;
use crate::helpers::*;

backend_test!(admin_list_adds_graph_id_and_user_type, |app: TestApp| async move {
    let admin = app.as_user("admin").await;
    let ws = app.ws("Team");
    admin.add_user_as_admin(ws, &GroupUser::email(GUEST, R::Viewer)).await.unwrap();
    let users = admin.get_group_users_as_admin(ws).await.unwrap();
    let owner = users.iter().find(|u| u.identifier.as_deref() == Some(upn("owner").as_str())).unwrap();
    assert_eq!(owner.graph_id.as_deref(), Some(app.user_id("owner").to_string().as_str()));
    assert_eq!(owner.user_type.as_deref(), Some("Member"));
    let guest = users.iter().find(|u| u.identifier.as_deref() == Some(GUEST)).unwrap();
    assert_eq!(guest.user_type.as_deref(), Some("Guest"));
    assert_eq!(guest.email_address.as_deref(), Some("gina@fabrikam.com"));
    // The disabled account keeps its role.
    assert!(users.iter().any(|u| u.identifier.as_deref() == Some(upn("disabled").as_str())));
    let app_entry = users.iter().find(|u| u.principal_type == Some(P::App)).unwrap();
    assert_eq!(app_entry.graph_id.as_deref(), Some(app.app_object_id().to_string().as_str()));
});

backend_test!(admin_endpoints_need_a_fabric_administrator, |app: TestApp| async move {
    let ws = app.ws("Team");
    let owner = app.as_user("owner").await;
    assert_api_error(owner.get_group_users_as_admin(ws).await, 401, "PowerBINotAuthorizedException");
    assert_api_error(
        owner.add_user_as_admin(ws, &GroupUser::email(upn("outsider"), R::Viewer)).await,
        401,
        "PowerBINotAuthorizedException",
    );
    assert_api_error(owner.delete_user_as_admin(ws, &upn("viewer"), false).await, 401, "PowerBINotAuthorizedException");
    // A service principal may read but not change through the admin API.
    let sp = app.as_app().await;
    assert_eq!(sp.get_group_users_as_admin(ws).await.unwrap().len(), 6);
    assert_api_error(sp.add_user_as_admin(ws, &GroupUser::email(upn("outsider"), R::Viewer)).await, 403, "PowerBINotAuthorizedException");
    assert_api_error(app.as_user("admin").await.get_group_users_as_admin(uuid::Uuid::new_v4()).await, 404, "PowerBIEntityNotFound");
});

backend_test!(admin_changes_skip_workspace_roles, |app: TestApp| async move {
    // The Fabric administrator has no role in Solo, yet manages it.
    let ws = app.ws("Solo");
    let admin = app.as_user("admin").await;
    assert_api_error(admin.get_group_users(ws).await, 404, "PowerBIEntityNotFound");
    admin.add_user_as_admin(ws, &GroupUser::email(upn("viewer"), R::Viewer)).await.unwrap();
    admin.add_user_as_admin(ws, &GroupUser::email(upn("viewer"), R::Admin)).await.unwrap();
    let group = app.fixture.groups["Analysts"].to_string();
    admin.add_user_as_admin(ws, &GroupUser::principal(&group, P::Group, R::Member)).await.unwrap();
    assert_eq!(app.roles(ws).await.len(), 3);
    admin.delete_user_as_admin(ws, &group, true).await.unwrap();
    admin.delete_user_as_admin(ws, &upn("outsider"), false).await.unwrap();
    assert_eq!(app.roles(ws).await, vec![(upn("viewer"), "Admin".to_string())]);
});

backend_test!(delegated_scopes_are_enforced_per_operation, |app: TestApp| async move {
    let ws = app.ws("Team");
    let read_only = pbi_client::PowerBiClient::new(
        app.http.clone(),
        &app.endpoints(),
        app.user_token_scoped("owner", "https://analysis.windows.net/powerbi/api/Workspace.Read.All").await,
    );
    assert_eq!(read_only.get_group_users(ws).await.unwrap().len(), 6);
    assert_api_error(
        read_only.add_group_user(ws, &GroupUser::email(upn("outsider"), R::Viewer)).await,
        401,
        "PowerBINotAuthorizedException",
    );
    let admin_workspace_scope = pbi_client::PowerBiClient::new(
        app.http.clone(),
        &app.endpoints(),
        app.user_token_scoped("admin", "https://analysis.windows.net/powerbi/api/Workspace.ReadWrite.All").await,
    );
    assert_api_error(admin_workspace_scope.get_group_users_as_admin(ws).await, 401, "PowerBINotAuthorizedException");
});

backend_test!(disabled_and_deleted_accounts_keep_their_roles_visibly, |app: TestApp| async move {
    let ws = app.ws("Team");
    app.sql("UPDATE users SET account_enabled = 0 WHERE tenant_id = $1 AND id = $2", "viewer").await;
    app.sql("UPDATE users SET deleted_at = 1767225600000 WHERE tenant_id = $1 AND id = $2", "contributor").await;
    let users = app.as_user("admin").await.get_group_users_as_admin(ws).await.unwrap();
    let find = |who: &str| users.iter().find(|u| u.identifier.as_deref() == Some(upn(who).as_str())).cloned().unwrap();
    // Disabling blocks sign-in but removes no role.
    assert_eq!(find("viewer").group_user_access_right, R::Viewer);
    assert!(find("viewer").deleted_date_time.is_none());
    // A deleted account's role lingers, and the admin list shows the deletion.
    assert_eq!(find("contributor").group_user_access_right, R::Contributor);
    assert_eq!(find("contributor").deleted_date_time.as_deref(), Some("2026-01-01T00:00:00.000Z"));
    // The workspace endpoint does not show admin-only fields.
    let plain = app.as_user("owner").await.get_group_users(ws).await.unwrap();
    assert!(plain.iter().all(|u| u.deleted_date_time.is_none()));
});

backend_test!(license_type_follows_assignments_after_propagation, |app: TestApp| async move {
    use pbi_server::domain::{PrincipalKind, Role};
    use pbi_server::tenant::{GroupMemberSpec, GroupSpec, LicenseSpec, MemberSpec, SkuSpec, TenantSpec, UserSpec, WorkspaceSpec};
    let d = "lic.onmicrosoft.com";
    let user = |l: &str| UserSpec {
        upn: format!("{l}@{d}"),
        display_name: l.into(),
        password: Some(PASSWORD.into()),
        fabric_admin: l == "boss",
        ..Default::default()
    };
    let role = |l: &str| MemberSpec { principal: format!("{l}@{d}"), principal_type: PrincipalKind::User, role: Role::Admin };
    let lic =
        |p: &str, t: &str, sku: &str| LicenseSpec { principal: p.into(), principal_type: t.parse().unwrap(), sku_part_number: sku.into() };
    let spec = TenantSpec {
        name: "Licenses".into(),
        domain: d.into(),
        users: ["boss", "ppu", "viagroup", "free"].into_iter().map(user).collect(),
        groups: vec![GroupSpec {
            display_name: "Licensed".into(),
            members: vec![GroupMemberSpec { principal: format!("viagroup@{d}"), principal_type: PrincipalKind::User }],
            ..Default::default()
        }],
        service_principals: vec![pbi_server::tenant::ServicePrincipalSpec {
            id: None,
            app_id: None,
            display_name: "app".into(),
            secrets: vec![],
            certificates: vec![],
            ..Default::default()
        }],
        workspaces: vec![WorkspaceSpec {
            name: "W".into(),
            members: vec![role("ppu"), role("viagroup"), role("free")],
            ..Default::default()
        }],
        subscribed_skus: vec![
            SkuSpec { sku_part_number: "POWER_BI_PRO".into(), seats: 5 },
            SkuSpec { sku_part_number: "PBI_PREMIUM_PER_USER".into(), seats: 1 },
        ],
        licenses: vec![lic(&format!("ppu@{d}"), "User", "PBI_PREMIUM_PER_USER"), lic("Licensed", "Group", "POWER_BI_PRO")],
        ..Default::default()
    };
    let t = app.provision(&spec).await;
    let boss = app.client(app.token_for(t.tenant.id, t.service_principals["app"].1, &format!("boss@{d}")).await);
    let types = || async {
        let mut v: Vec<(String, String)> = boss
            .get_group_users_as_admin(t.workspaces["W"])
            .await
            .unwrap()
            .into_iter()
            .map(|u| (u.identifier.unwrap(), u.license_type.unwrap()))
            .collect();
        v.sort();
        v
    };
    // Licenses take minutes to propagate: right after assignment everyone is still Free.
    assert!(types().await.iter().all(|(_, l)| l == "Free"));
    let token = app.token_for(t.tenant.id, t.service_principals["app"].1, &format!("boss@{d}")).await;
    let expanded = || async {
        let (status, body, _) =
            app.call(reqwest::Method::GET, "/v1.0/myorg/admin/groups?$top=10&$expand=users", Some(&token), None, &[]).await;
        assert_eq!(status, 200, "{body}");
        let mut users: Vec<(String, String)> = body["value"][0]["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| (u["identifier"].as_str().unwrap().to_string(), u["licenseType"].as_str().unwrap_or("missing").to_string()))
            .collect();
        users.sort();
        users
    };
    assert_eq!(expanded().await, types().await);
    app.clock.advance(std::time::Duration::from_secs(301));
    assert_eq!(
        types().await,
        vec![(format!("free@{d}"), "Free".into()), (format!("ppu@{d}"), "PremiumPerUser".into()), (format!("viagroup@{d}"), "Pro".into())]
    );
    // `$expand=users` on GetGroupsAsAdmin carries the same users, licenseType included, and a
    // page read before the licences propagated is not served again.
    assert_eq!(expanded().await, types().await);
    // Seats are enforced when a tenant is provisioned: a second direct PPU assignment is refused.
    let mut over = spec.clone();
    over.domain = "lic2.onmicrosoft.com".into();
    over.users = vec![user("a"), user("b")]
        .into_iter()
        .map(|mut u| {
            u.upn = u.upn.replace(d, "lic2.onmicrosoft.com");
            u
        })
        .collect();
    over.groups.clear();
    over.workspaces.clear();
    over.licenses =
        vec![lic("a@lic2.onmicrosoft.com", "User", "PBI_PREMIUM_PER_USER"), lic("b@lic2.onmicrosoft.com", "User", "PBI_PREMIUM_PER_USER")];
    let err = pbi_server::tenant::provision(&app.store, &*app.clock, &over).await.unwrap_err();
    assert!(err.to_string().contains("no seat"), "{err}");
});
