/// `docs/compatibility.md` is generated from the routing tables; this fails when it is stale.
/// `UPDATE_DOCS=1 cargo test -p pbi-server --test api compatibility` rewrites it.
#[test]
fn compatibility_matrix_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/compatibility.md");
    let generated = pbi_server::api::powerbi::compatibility_markdown();
    if std::env::var("UPDATE_DOCS").is_ok() {
        std::fs::write(path, &generated).unwrap();
    }
    let current = std::fs::read_to_string(path).unwrap_or_default();
    assert!(current == generated, "docs/compatibility.md is stale: run `UPDATE_DOCS=1 cargo test -p pbi-server --test api compatibility`");
}
