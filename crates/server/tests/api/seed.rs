//! The large-tenant generator: deterministic for a seed, and the tenant it makes works.

use chrono::{TimeZone, Utc};
use pbi_server::clock::ManualClock;
use pbi_server::seed::{generate, SeedParams};
use pbi_server::store::Store;

use crate::audit::get;
use crate::backend_test;
use crate::helpers::*;

backend_test!(the_generator_is_deterministic_and_its_tenant_works, |app: TestApp| async move {
    let params = SeedParams { users: 400, workspaces: 120, seed: 42, domain: None };
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2025, 3, 10, 12, 0, 0).unwrap());
    let seeded = generate(&app.store, &*clock, &params).await.unwrap();
    let c = &seeded.counts;
    assert_eq!((c.users, c.workspaces), (400, 120));
    assert!(c.groups > 5 && c.group_members > 100 && c.workspace_roles > 500 && c.artifacts > 500, "{c:?}");
    assert!(c.artifact_permissions > 2000 && c.subscriptions == 80 && c.activity_events > 1000 && c.licenses > 100, "{c:?}");
    assert_eq!(seeded.domain, "seed42.onmicrosoft.com");
    let known = pbi_server::seed::credentials(&params);
    assert_eq!(
        (known.tenant_id, known.client_id, &known.password, &known.client_secret, &known.heavy_upn),
        (seeded.tenant_id, seeded.client_id, &seeded.password, &seeded.client_secret, &seeded.heavy_upn),
        "the credentials follow from the seed alone"
    );
    // The same seed again (on the same backend, in another database) makes the same tenant.
    let backend = if app.store.backend() == pbi_server::store::Backend::Sqlite { Backend::Sqlite } else { Backend::Postgres };
    let (url, _dir) = fresh_database(backend).await.unwrap();
    let other = Store::connect(&url).await.unwrap();
    let again = generate(&other, &*clock, &params).await.unwrap();
    assert_eq!(
        (again.tenant_id, again.heavy_id, &again.password, &again.client_secret),
        (seeded.tenant_id, seeded.heavy_id, &seeded.password, &seeded.client_secret)
    );
    assert_eq!(again.counts, seeded.counts);
    let (a, b) = (app.store.tenant_rows(seeded.tenant_id).await.unwrap(), other.tenant_rows(again.tenant_id).await.unwrap());
    let users =
        |rows: &pbi_server::store::TenantRows| rows.users.iter().map(|(u, _, admin)| (u.id, u.upn.clone(), *admin)).collect::<Vec<_>>();
    assert_eq!(users(&a), users(&b));
    assert_eq!(a.group_members, b.group_members);
    assert_eq!(a.workspaces, b.workspaces);
    other.close().await;
    // A second run with the same seed is refused rather than duplicated.
    assert!(generate(&app.store, &*clock, &params).await.is_err());

    // The printed credentials work, and the admin reads see the tenant.
    let token = app
        .token_client()
        .password(
            &seeded.tenant_id.to_string(),
            &seeded.client_id.to_string(),
            &seeded.admin_upn,
            &seeded.password,
            "https://analysis.windows.net/powerbi/api/.default",
        )
        .await
        .unwrap()
        .access_token;
    let (status, body) = get(&app, &token, "/v1.0/myorg/admin/groups?$top=5000&$expand=users").await;
    assert_eq!(status, 200);
    assert_eq!(body["value"].as_array().unwrap().len(), 120);
    let states: std::collections::HashSet<&str> = body["value"].as_array().unwrap().iter().map(|w| w["state"].as_str().unwrap()).collect();
    assert!(states.contains("Active"), "{states:?}");
    let (status, body) = get(&app, &token, &format!("/v1.0/myorg/admin/users/{}/artifactAccess", seeded.heavy_id)).await;
    assert_eq!(status, 200);
    assert!(body["artifactAccessEntities"].as_array().unwrap().len() > 100, "the heavy user reaches many items");
    let app_token = app.app_token_for(seeded.tenant_id, seeded.client_id, &seeded.client_secret).await;
    assert_eq!(get(&app, &app_token, "/v1.0/myorg/admin/groups?$top=1").await.0, 200);
});
