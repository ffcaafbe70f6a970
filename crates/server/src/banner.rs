//! The text `serve` prints on start: the demo tenant's credentials and a curl tour.

use crate::app::Application;
use crate::domain::filter::{WorkspaceField, WorkspaceFilter};
use crate::store::Page;

pub async fn demo_banner(app: &Application) -> Option<String> {
    let demo = app.demo()?;
    let url = app.public_url();
    let store = &app.state().store;
    let workspace = store
        .workspaces_of(
            demo.tenant_id,
            sp_object_id(app).await?,
            Some(&WorkspaceFilter::Eq(WorkspaceField::Name, "Sales Analytics".into())),
            &Page { top: Some(1), skip: 0 },
        )
        .await
        .ok()?
        .into_iter()
        .next()?;
    Some(format!(
        r#"
pbi-access demo tenant
  tenant id      {tenant}
  client id      {client}   (service principal, Admin of both demo workspaces)
  client secret  {secret}
  users          {admin} (Fabric administrator), {member}, … password: {password}
  SCIM           {url}/{tenant}/scim/v2/  bearer secret: {scim}
  Graph          {url}/graph/v1.0/  (licenses: POWER_BI_PRO, PBI_PREMIUM_PER_USER, POWER_BI_STANDARD)

Try it (copy and paste):

  TOKEN=$(curl -s {url}/{tenant}/oauth2/v2.0/token \
    -d grant_type=client_credentials -d client_id={client} -d 'client_secret={secret}' \
    --data-urlencode scope=https://analysis.windows.net/powerbi/api/.default \
    | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
  curl -s {url}/v1.0/myorg/groups -H "Authorization: Bearer $TOKEN"
  curl -s {url}/v1.0/myorg/groups/{ws}/users -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' -d '{{"emailAddress":"{member}","groupUserAccessRight":"Viewer"}}'
  curl -s {url}/v1.0/myorg/groups/{ws}/users -H "Authorization: Bearer $TOKEN"
"#,
        tenant = demo.tenant_id,
        client = demo.client_id,
        secret = demo.client_secret,
        admin = demo.admin_upn,
        member = demo.member_upn,
        password = demo.password,
        scim = crate::tenant::demo_scim_secret(&demo.client_secret),
        ws = workspace.id,
    ))
}

async fn sp_object_id(app: &Application) -> Option<uuid::Uuid> {
    let demo = app.demo()?;
    app.state().store.get_service_principal(demo.tenant_id, demo.client_id, true).await.ok().flatten().map(|sp| sp.id)
}
