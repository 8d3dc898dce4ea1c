//! `remediator preflight` for EKS Fargate: read one cluster's Fargate pods and the workloads,
//! ReplicaSets and PodDisruptionBudgets of their namespaces, with GET (LIST) requests only, and
//! hand what was read to [`remediator_core::preflight::eks::assess`].
//!
//! Requests: one cluster-wide LIST of pods labelled `eks.amazonaws.com/fargate-profile`, then
//! per namespace that has one, a LIST each of ReplicaSets, Deployments, StatefulSets and
//! PodDisruptionBudgets; every LIST paged by `limit` / `continue`. The RBAC that allows them is
//! `list` on those resources (infra/kubernetes/rbac.yaml).

mod map;

use std::collections::BTreeSet;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::serde::de::DeserializeOwned;
use kube::api::{Api, ListParams};
use kube::Client;
use remediator_core::preflight::eks::{self, Cluster};
use remediator_core::preflight::{Finding, Resource};

use crate::connect::{ConnectError, EksConnector};

/// The label EKS puts on every pod it schedules on Fargate.
pub const FARGATE_PROFILE_LABEL: &str = "eks.amazonaws.com/fargate-profile";

/// Objects per LIST page.
pub const PAGE_SIZE: u32 = 500;

/// Why a cluster could not be read: nothing in it was assessed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("EKS cluster {cluster}: cannot connect: {source}")]
    Connect {
        cluster: String,
        #[source]
        source: ConnectError,
    },
    #[error("EKS cluster {cluster}: LIST {what}: {source}")]
    List {
        cluster: String,
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("ListClusters: {message}")]
    ListClusters { message: String, retryable: bool },
}

impl Error {
    /// Throttling, server errors and transport failures may pass on a later attempt; a 403
    /// (RBAC without `list`, no access entry) or a missing cluster will not.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Connect { source, .. } => source.is_retryable(),
            Error::List { source, .. } => crate::restart::is_retryable(source),
            Error::ListClusters { retryable, .. } => *retryable,
        }
    }
}

/// The findings and planner rows for one cluster, reached through `client`.
pub async fn preflight_cluster(
    client: &Client,
    cluster: &str,
    account: &str,
    region: &str,
) -> Result<(Vec<Finding>, Vec<Resource>), Error> {
    preflight_cluster_paged(client, cluster, account, region, PAGE_SIZE).await
}

/// [`preflight_cluster`] with `page_size` objects per LIST page (tests make it small to see
/// the `continue` pages).
pub async fn preflight_cluster_paged(
    client: &Client,
    cluster: &str,
    account: &str,
    region: &str,
    page_size: u32,
) -> Result<(Vec<Finding>, Vec<Resource>), Error> {
    let read = read_cluster(&Lister {
        client,
        cluster,
        page_size,
    })
    .await?;
    Ok(eks::assess(&read, account, region))
}

/// [`preflight_cluster`] over `clusters`, each connected through `connector`; the first cluster
/// that cannot be read stops it with its error (which names the cluster).
pub async fn preflight(
    connector: &EksConnector,
    clusters: &[String],
    account: &str,
    region: &str,
) -> Result<(Vec<Finding>, Vec<Resource>), Error> {
    let (mut findings, mut resources) = (Vec::new(), Vec::new());
    for cluster in clusters {
        let client = connector
            .client(cluster)
            .await
            .map_err(|source| Error::Connect {
                cluster: cluster.clone(),
                source,
            })?;
        let (f, r) = preflight_cluster(&client, cluster, account, region).await?;
        findings.extend(f);
        resources.extend(r);
    }
    Ok((findings, resources))
}

/// The names of the Region's EKS clusters (`eks:ListClusters`, every page).
pub async fn list_clusters(eks: &aws_sdk_eks::Client) -> Result<Vec<String>, Error> {
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = eks
            .list_clusters()
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| {
                use aws_sdk_eks::error::ProvideErrorMetadata;
                let retryable = e.as_service_error().is_none_or(|se| {
                    se.code()
                        .is_some_and(|c| c.contains("Throttl") || c.contains("ServerException"))
                });
                Error::ListClusters {
                    message: aws_smithy_types::error::display::DisplayErrorContext(&e).to_string(),
                    retryable,
                }
            })?;
        names.extend(page.clusters.unwrap_or_default());
        match page.next_token {
            Some(next) if !next.is_empty() => token = Some(next),
            _ => return Ok(names),
        }
    }
}

/// Where LISTs go, and how they are paged.
struct Lister<'a> {
    client: &'a Client,
    cluster: &'a str,
    page_size: u32,
}

/// Everything [`eks::assess`] needs of the cluster.
async fn read_cluster(l: &Lister<'_>) -> Result<Cluster, Error> {
    let fargate = ListParams::default().labels(FARGATE_PROFILE_LABEL);
    let pods: Vec<Pod> = l.list(Api::all(l.client.clone()), fargate, "pods").await?;
    let namespaces: BTreeSet<String> = pods
        .iter()
        .filter_map(|p| p.metadata.namespace.clone())
        .collect();
    let mut seen = map::Lists::default();
    for ns in &namespaces {
        let what = |kind: &str| format!("{kind} in namespace {ns}");
        let all = ListParams::default;
        let api = || l.client.clone();
        seen.replica_sets.extend(
            l.list::<ReplicaSet>(Api::namespaced(api(), ns), all(), &what("replicasets"))
                .await?,
        );
        seen.deployments.extend(
            l.list::<Deployment>(Api::namespaced(api(), ns), all(), &what("deployments"))
                .await?,
        );
        seen.stateful_sets.extend(
            l.list::<StatefulSet>(Api::namespaced(api(), ns), all(), &what("statefulsets"))
                .await?,
        );
        seen.budgets.extend(
            l.list::<PodDisruptionBudget>(
                Api::namespaced(api(), ns),
                all(),
                &what("poddisruptionbudgets"),
            )
            .await?,
        );
    }
    seen.pods = pods;
    Ok(seen.into_cluster(l.cluster))
}

impl Lister<'_> {
    /// Every page of a LIST.
    async fn list<K>(&self, api: Api<K>, params: ListParams, what: &str) -> Result<Vec<K>, Error>
    where
        K: Clone + DeserializeOwned + std::fmt::Debug,
    {
        let mut items = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let mut page_params = params.clone().limit(self.page_size);
            if let Some(token) = next.take() {
                page_params = page_params.continue_token(&token);
            }
            let page = api.list(&page_params).await.map_err(|source| Error::List {
                cluster: self.cluster.to_owned(),
                what: what.to_owned(),
                source,
            })?;
            items.extend(page.items);
            match page.metadata.continue_ {
                Some(token) if !token.is_empty() => next = Some(token),
                _ => return Ok(items),
            }
        }
    }
}
