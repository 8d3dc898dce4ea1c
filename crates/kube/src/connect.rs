//! Reaching a cluster's API server from Lambda: `eks:DescribeCluster` gives the endpoint and CA,
//! [`crate::token::eks_token`] the bearer token. Clients are cached per cluster for a warm
//! function and rebuilt before the token runs out.
//!
//! Tokens are aged by the **wall clock**. A monotonic clock (`Instant`) does not advance while
//! Lambda freezes an idle environment, so a client cached before a freeze of more than
//! 15 minutes would look fresh while the API server answers 401 to its token. The clock is
//! injectable ([`EksConnector::with_clock`]) for tests. After a 401 the caller drops the client
//! ([`EksConnector::invalidate`]) and asks again: see [`crate::pods`].
//!
//! `EKS_ENDPOINT_URL` overrides the endpoint DescribeCluster returns, for local runs and tests
//! against a fake API server; only through it is plain `http://` accepted.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use chrono::{DateTime, Utc};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::json;

use crate::token::{eks_token, TOKEN_LIFETIME};

/// Sign a new token (and make a new client) once the cached one is this old by the wall clock:
/// 10 of the token's 15 minutes ([`TOKEN_LIFETIME`]), which leaves 5 for a call in flight, the
/// skew between our clock and the API server's, and a cached client picked just before.
pub const REFRESH_AFTER: Duration = Duration::from_secs(10 * 60);
const _: () = assert!(REFRESH_AFTER.as_secs() + 5 * 60 <= TOKEN_LIFETIME.as_secs());

/// Why no client could be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("EKS cluster {0} not found")]
    ClusterNotFound(String),
    #[error("DescribeCluster {cluster}: {message}")]
    Describe { cluster: String, message: String },
    #[error("cluster {0} has no endpoint yet (is it still creating?)")]
    NoEndpoint(String),
    #[error("no AWS credentials for the EKS token: {0}")]
    Credentials(String),
    #[error(transparent)]
    Token(#[from] crate::token::TokenError),
    #[error("Kubernetes client for {cluster}: {message}")]
    Client { cluster: String, message: String },
}

impl ConnectError {
    /// A missing cluster is final; everything else may work on a later attempt.
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self,
            ConnectError::ClusterNotFound(_) | ConnectError::Client { .. }
        )
    }
}

/// A boxed future, as [`ClusterAccess`] returns them.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where a cluster's API server is and the CA that signs its certificate (base64 PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterEndpoint {
    pub server: String,
    pub certificate_authority: Option<String>,
}

/// A bearer token for a cluster, and when the credentials that signed it expire (a presigned
/// URL stops working with them, however young the token is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerToken {
    pub token: String,
    pub credentials_expire: Option<DateTime<Utc>>,
}

/// What a client is made of: the cluster's endpoint and a bearer token. [`EksAccess`] asks AWS;
/// tests give their own.
pub trait ClusterAccess: Send + Sync {
    /// The API server of `cluster` (`eks:DescribeCluster`).
    fn endpoint<'a>(
        &'a self,
        cluster: &'a str,
    ) -> BoxFuture<'a, Result<ClusterEndpoint, ConnectError>>;

    /// A new token for `cluster`, signed as of `now` (the wall clock).
    fn token<'a>(
        &'a self,
        cluster: &'a str,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<BearerToken, ConnectError>>;
}

/// The real [`ClusterAccess`]: DescribeCluster, and a token signed with the function's
/// credentials for the STS endpoint of its Region.
pub struct EksAccess {
    eks: aws_sdk_eks::Client,
    credentials: Option<SharedCredentialsProvider>,
    region: String,
}

impl EksAccess {
    pub fn new(sdk: &SdkConfig) -> Self {
        EksAccess {
            eks: aws_sdk_eks::Client::new(sdk),
            credentials: sdk.credentials_provider(),
            region: sdk
                .region()
                .map(ToString::to_string)
                .unwrap_or_else(|| "us-east-1".into()),
        }
    }
}

impl ClusterAccess for EksAccess {
    fn endpoint<'a>(
        &'a self,
        cluster: &'a str,
    ) -> BoxFuture<'a, Result<ClusterEndpoint, ConnectError>> {
        Box::pin(async move {
            let described = self
                .eks
                .describe_cluster()
                .name(cluster)
                .send()
                .await
                .map_err(|e| {
                    let not_found = e
                        .as_service_error()
                        .is_some_and(|se| se.is_resource_not_found_exception());
                    if not_found {
                        ConnectError::ClusterNotFound(cluster.to_owned())
                    } else {
                        ConnectError::Describe {
                            cluster: cluster.to_owned(),
                            message: aws_smithy_types::error::display::DisplayErrorContext(&e)
                                .to_string(),
                        }
                    }
                })?;
            let info = described.cluster();
            Ok(ClusterEndpoint {
                server: info
                    .and_then(|c| c.endpoint())
                    .map(str::to_owned)
                    .ok_or_else(|| ConnectError::NoEndpoint(cluster.to_owned()))?,
                certificate_authority: info
                    .and_then(|c| c.certificate_authority())
                    .and_then(|c| c.data())
                    .map(str::to_owned),
            })
        })
    }

    fn token<'a>(
        &'a self,
        cluster: &'a str,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<BearerToken, ConnectError>> {
        Box::pin(async move {
            let provider = self.credentials.as_ref().ok_or_else(|| {
                ConnectError::Credentials("no credentials provider configured".into())
            })?;
            let credentials = provider
                .provide_credentials()
                .await
                .map_err(|e| ConnectError::Credentials(e.to_string()))?;
            let token = eks_token(cluster, &credentials, &self.region, SystemTime::from(now))?;
            Ok(BearerToken {
                token,
                credentials_expire: credentials.expiry().map(DateTime::<Utc>::from),
            })
        })
    }
}

/// The wall clock the connector ages tokens by.
pub type WallClock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Makes a client of a finished configuration: kube's HTTPS stack unless a test replaces it.
type Transport = Box<dyn Fn(kube::Config) -> Result<kube::Client, kube::Error> + Send + Sync>;

struct Cached {
    client: kube::Client,
    /// The wall-clock time the token was signed as of.
    signed_at: DateTime<Utc>,
    /// Sign a new token from this time on: [`REFRESH_AFTER`] after `signed_at`, or when the
    /// credentials that signed it expire, whichever comes first.
    refresh_at: DateTime<Utc>,
}

impl Cached {
    /// Whether the token may still be used at `now`. A wall clock set back before the signing
    /// time (NTP stepping it) is not trusted either: a new token is cheap.
    fn fresh_at(&self, now: DateTime<Utc>) -> bool {
        self.signed_at <= now && now < self.refresh_at
    }
}

/// Makes (and caches) Kubernetes clients for EKS clusters.
pub struct EksConnector {
    access: Box<dyn ClusterAccess>,
    endpoint_override: Option<String>,
    clock: WallClock,
    transport: Transport,
    cache: Mutex<HashMap<String, Cached>>,
}

impl EksConnector {
    /// `endpoint_override`: the value of `EKS_ENDPOINT_URL`, if set.
    pub fn new(sdk: &SdkConfig, endpoint_override: Option<String>) -> Self {
        EksConnector::with_access(EksAccess::new(sdk), endpoint_override)
    }

    /// A connector over another source of endpoints and tokens (a test's).
    pub fn with_access(
        access: impl ClusterAccess + 'static,
        endpoint_override: Option<String>,
    ) -> Self {
        EksConnector {
            access: Box::new(access),
            endpoint_override: endpoint_override.filter(|e| !e.trim().is_empty()),
            clock: Arc::new(Utc::now),
            transport: Box::new(kube::Client::try_from),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Ages tokens by `clock` instead of the system's wall clock.
    pub fn with_clock(mut self, clock: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Makes clients with `transport` instead of kube's HTTPS stack (a test's fake API server:
    /// the configuration it gets carries the server and the bearer token).
    pub fn with_transport(
        mut self,
        transport: impl Fn(kube::Config) -> Result<kube::Client, kube::Error> + Send + Sync + 'static,
    ) -> Self {
        self.transport = Box::new(transport);
        self
    }

    /// The wall clock this connector reads (the system's, or the one a test injected): the
    /// remediation judges the pod's termination time by the same clock.
    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    /// A client for `cluster`, from the cache when its token is fresh by the wall clock.
    pub async fn client(&self, cluster: &str) -> Result<kube::Client, ConnectError> {
        let now = (self.clock)();
        if let Some(cached) = self.cache().get(cluster) {
            if cached.fresh_at(now) {
                return Ok(cached.client.clone());
            }
            tracing::debug!(
                cluster,
                signed_at = %cached.signed_at,
                "the cached Kubernetes client's token is due for renewal"
            );
        }
        let (client, credentials_expire) = self.connect(cluster, now).await?;
        let refresh_after =
            chrono::Duration::from_std(REFRESH_AFTER).unwrap_or(chrono::Duration::minutes(10));
        let refresh_at = credentials_expire.map_or(now + refresh_after, |expire| {
            (now + refresh_after).min(expire)
        });
        self.cache().insert(
            cluster.to_owned(),
            Cached {
                client: client.clone(),
                signed_at: now,
                refresh_at,
            },
        );
        Ok(client)
    }

    /// Drops the cached client of `cluster` (its token was refused): the next
    /// [`EksConnector::client`] signs a new token.
    pub fn invalidate(&self, cluster: &str) {
        self.cache().remove(cluster);
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new client for `cluster` with a token signed as of `now`, and when the credentials
    /// that signed it expire.
    async fn connect(
        &self,
        cluster: &str,
        now: DateTime<Utc>,
    ) -> Result<(kube::Client, Option<DateTime<Utc>>), ConnectError> {
        let described = self.access.endpoint(cluster).await?;
        let (server, ca) = match &self.endpoint_override {
            Some(url) => (url.clone(), None),
            None => (described.server, described.certificate_authority),
        };
        if server.starts_with("http://") && self.endpoint_override.is_none() {
            return Err(ConnectError::Client {
                cluster: cluster.to_owned(),
                message: format!("refusing plain-text endpoint {server}"),
            });
        }
        let token = self.access.token(cluster, now).await?;

        let mut cluster_entry = json!({ "server": server });
        if let Some(ca) = ca {
            cluster_entry["certificate-authority-data"] = json!(ca);
        }
        let kubeconfig: Kubeconfig = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{ "name": cluster, "cluster": cluster_entry }],
            "users": [{ "name": "retirement-remediator", "user": { "token": token.token } }],
            "contexts": [{ "name": cluster, "context": { "cluster": cluster, "user": "retirement-remediator" } }],
            "current-context": cluster,
        }))
        .map_err(|e| ConnectError::Client {
            cluster: cluster.to_owned(),
            message: e.to_string(),
        })?;
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(|e| ConnectError::Client {
                    cluster: cluster.to_owned(),
                    message: e.to_string(),
                })?;
        let client = (self.transport)(config).map_err(|e| ConnectError::Client {
            cluster: cluster.to_owned(),
            message: e.to_string(),
        })?;
        Ok((client, token.credentials_expire))
    }
}
