//! The JSON contract of every API pbi-access speaks, shared by the server, the client and the CLI.
//!
//! Field names and enum spellings follow Microsoft's Swagger for Power BI v1.0
//! (`shared/reference/powerbi-swagger.json`) and Entra ID's OAuth2 endpoints. Nothing in this crate
//! knows about storage or HTTP frameworks: these are plain serde types plus the operation table
//! (method + path + operationId) that both the server's router and the client's URL builder use.

/// A string enum that the Swagger marks `modelAsExtensible`: the known values as variants, and
/// any other value the service may add kept as `Other(text)` instead of failing to parse.
macro_rules! extensible_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
            /// A value this version does not know.
            Other(String),
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => stringify!($variant),)*
                    Self::Other(s) => s,
                }
            }

            pub fn parse(s: &str) -> Self {
                match s {
                    $(stringify!($variant) => Self::$variant,)*
                    other => Self::Other(other.to_string()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as serde::Deserialize>::deserialize(d)?;
                Ok(Self::parse(&s))
            }
        }
    };
}

pub mod admin;
pub mod artifact_users;
pub mod artifacts;
pub mod budgets;
pub mod fabric;
pub mod graph;
pub mod oauth;
pub mod operator;
pub mod ops;
pub mod paging;
pub mod powerbi;

/// The OData wrapper `{"@odata.context": …, "value": […]}` used by every Power BI list response.
///
/// The Swagger spells the property `odata.context` (an AutoRest artefact); the wire name is
/// `@odata.context`, as the service and its own examples send it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ODataList<T> {
    #[serde(rename = "@odata.context", default, skip_serializing_if = "Option::is_none")]
    pub odata_context: Option<String>,
    pub value: Vec<T>,
}

impl<T> ODataList<T> {
    pub fn new(context: impl Into<String>, value: Vec<T>) -> Self {
        Self { odata_context: Some(context.into()), value }
    }
}

/// A single OData entity with its `@odata.context`, e.g. the workspace `POST /groups` returns.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ODataEntity<T> {
    #[serde(rename = "@odata.context", default, skip_serializing_if = "Option::is_none")]
    pub odata_context: Option<String>,
    #[serde(flatten)]
    pub entity: T,
}
