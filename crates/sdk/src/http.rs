//! One HTTPS client for every SDK client of a process.
//!
//! Left to themselves, each of the ten or so SDK clients a function builds gets its own default
//! HTTPS client, and each one, when the SDK client is built, is asked to check its TLS
//! configuration (`validate_base_client_config`). In `aws-smithy-http-client` 1.5 that check
//! builds a whole connector, root store included (the system's CA bundle read, and each of its
//! certificates parsed), throws it away and answers `Ok` whatever it found; the connector the
//! first request uses is then built again, parsing the certificates again. Here one client, made
//! like the SDK's default (hyper 1, rustls with aws-lc, the proxy from the environment), is
//! shared by all of them, and the throw-away connector is not built: the root store is parsed
//! once per process, when the first request needs it (measured in tests/README.md, "Measured", cold-start
//! figures).

use std::sync::OnceLock;

use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_http_client::{Builder, ConnectorBuilder};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_runtime_api::shared::IntoShared;
use aws_smithy_types::config_bag::ConfigBag;

/// The process's HTTPS client, built on first use.
pub fn shared_https_client() -> SharedHttpClient {
    static CLIENT: OnceLock<SharedHttpClient> = OnceLock::new();
    CLIENT
        .get_or_init(|| NoThrowAwayConnector { inner: https() }.into_shared())
        .clone()
}

/// The SDK's default HTTPS client, as `aws-smithy-runtime` builds it for current behaviour
/// versions: rustls with aws-lc, the connector settings and sleep of the calling client, the
/// proxy from the environment.
fn https() -> SharedHttpClient {
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut builder =
            ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
        builder.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            builder.set_sleep_impl(components.sleep_impl());
        }
        builder.set_proxy_config(Some(ProxyConfig::from_env()));
        builder.build()
    })
}

/// An HTTP client that answers the SDK's configuration check without building a connector to
/// discard (the check cannot fail: it only loads the certificates early). A missing or broken
/// CA bundle shows at the first request instead, as the request's own error.
#[derive(Debug, Clone)]
struct NoThrowAwayConnector {
    inner: SharedHttpClient,
}

impl HttpClient for NoThrowAwayConnector {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.inner.http_connector(settings, components)
    }

    fn validate_base_client_config(
        &self,
        _: &RuntimeComponentsBuilder,
        _: &ConfigBag,
    ) -> Result<(), BoxError> {
        Ok(())
    }

    fn connector_metadata(
        &self,
    ) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.inner.connector_metadata()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    /// Counts the configuration checks and the connectors it is asked for.
    #[derive(Debug, Clone, Default)]
    struct Counting {
        checks: Arc<AtomicUsize>,
    }

    impl HttpClient for Counting {
        fn http_connector(
            &self,
            _: &HttpConnectorSettings,
            _: &RuntimeComponents,
        ) -> SharedHttpConnector {
            unreachable!("no request is made")
        }

        fn validate_base_client_config(
            &self,
            _: &RuntimeComponentsBuilder,
            _: &ConfigBag,
        ) -> Result<(), BoxError> {
            self.checks.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    #[test]
    fn building_ten_sdk_clients_over_the_shared_client_builds_no_connector_to_throw_away() {
        let counting = Counting::default();
        let shared = NoThrowAwayConnector {
            inner: counting.clone().into_shared(),
        };
        let (components, config) = (RuntimeComponentsBuilder::new("test"), ConfigBag::base());

        for _ in 0..10 {
            assert!(shared
                .clone()
                .validate_base_client_config(&components, &config)
                .is_ok());
        }

        assert_eq!(counting.checks.load(Ordering::SeqCst), 0);
    }
}
