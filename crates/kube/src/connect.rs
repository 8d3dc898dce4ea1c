//! Reaching a cluster's API server from Lambda: `eks:DescribeCluster` gives the endpoint and CA,
//! [`crate::token::eks_token`] the bearer token. Clients are cached per cluster for a warm
//! function and rebuilt before the token (valid 15 minutes) runs out.
//!
//! `EKS_ENDPOINT_URL` overrides the endpoint DescribeCluster returns, for local runs and tests
//! against a fake API server; only through it is plain `http://` accepted.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::json;

use crate::token::eks_token;

/// Rebuild a cached client after this long (EKS tokens are accepted for 15 minutes).
const CLIENT_TTL: Duration = Duration::from_secs(10 * 60);

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

/// Makes (and caches) Kubernetes clients for EKS clusters.
pub struct EksConnector {
    eks: aws_sdk_eks::Client,
    credentials: Option<SharedCredentialsProvider>,
    region: String,
    endpoint_override: Option<String>,
    cache: Mutex<HashMap<String, (Instant, kube::Client)>>,
}

impl EksConnector {
    /// `endpoint_override`: the value of `EKS_ENDPOINT_URL`, if set.
    pub fn new(sdk: &SdkConfig, endpoint_override: Option<String>) -> Self {
        EksConnector {
            eks: aws_sdk_eks::Client::new(sdk),
            credentials: sdk.credentials_provider(),
            region: sdk
                .region()
                .map(ToString::to_string)
                .unwrap_or_else(|| "us-east-1".into()),
            endpoint_override: endpoint_override.filter(|e| !e.trim().is_empty()),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// A client for `cluster`, from the cache when it is fresh.
    pub async fn client(&self, cluster: &str) -> Result<kube::Client, ConnectError> {
        if let Some((made, client)) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(cluster)
        {
            if made.elapsed() < CLIENT_TTL {
                return Ok(client.clone());
            }
        }
        let client = self.connect(cluster).await?;
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(cluster.to_owned(), (Instant::now(), client.clone()));
        Ok(client)
    }

    async fn connect(&self, cluster: &str) -> Result<kube::Client, ConnectError> {
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
        let (server, ca) = match &self.endpoint_override {
            Some(url) => (url.clone(), None),
            None => (
                info.and_then(|c| c.endpoint())
                    .map(str::to_owned)
                    .ok_or_else(|| ConnectError::NoEndpoint(cluster.to_owned()))?,
                info.and_then(|c| c.certificate_authority())
                    .and_then(|c| c.data())
                    .map(str::to_owned),
            ),
        };
        if server.starts_with("http://") && self.endpoint_override.is_none() {
            return Err(ConnectError::Client {
                cluster: cluster.to_owned(),
                message: format!("refusing plain-text endpoint {server}"),
            });
        }
        let provider = self.credentials.as_ref().ok_or_else(|| {
            ConnectError::Credentials("no credentials provider configured".into())
        })?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| ConnectError::Credentials(e.to_string()))?;
        let token = eks_token(cluster, &credentials, &self.region, SystemTime::now())?;

        let mut cluster_entry = json!({ "server": server });
        if let Some(ca) = ca {
            cluster_entry["certificate-authority-data"] = json!(ca);
        }
        let kubeconfig: Kubeconfig = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{ "name": cluster, "cluster": cluster_entry }],
            "users": [{ "name": "retirement-remediator", "user": { "token": token } }],
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
        kube::Client::try_from(config).map_err(|e| ConnectError::Client {
            cluster: cluster.to_owned(),
            message: e.to_string(),
        })
    }
}
