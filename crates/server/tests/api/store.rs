//! The store suite proper: migrations and versioning, on both backends.

use pbi_server::store::Store;

use crate::helpers::*;

#[tokio::test]
async fn schema_is_versioned_and_downgrades_are_refused() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some((url, _dir)) = fresh_database(backend).await else {
            continue;
        };
        // Two instances starting together on one database both migrate safely.
        let (a, b) = tokio::join!(Store::connect(&url), Store::connect(&url));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.schema_version().await.unwrap(), pbi_server::store::SCHEMA_VERSION, "{backend:?}");
        assert_eq!(b.schema_version().await.unwrap(), pbi_server::store::SCHEMA_VERSION, "{backend:?}");
        sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)")
            .execute(&sqlx::AnyPool::connect(&url).await.unwrap())
            .await
            .unwrap();
        a.close().await;
        b.close().await;
        let err = Store::connect(&url).await.unwrap_err().to_string();
        assert!(err.contains("refusing to downgrade"), "{backend:?}: {err}");
    }
}
