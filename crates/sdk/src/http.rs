//! One HTTPS client for every SDK client of a process.
//!
//! Left to themselves, each of the ten or so SDK clients a function builds gets its own default
//! HTTPS client, and each one, when the client is built, builds a TLS configuration to check it
//! can (`validate_base_client_config`): the system's root certificates parsed into a root store
//! ten times over, at every cold start. Here one client, made like the SDK's default (hyper 1,
//! rustls with aws-lc, the proxy from the environment), is shared by all of them, and its TLS
//! configuration is checked once: the first client built pays for it, the others reuse it.

use std::sync::{Arc, OnceLock};

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
        .get_or_init(|| {
            ValidatedOnce {
                inner: https(),
                validated: Arc::new(OnceLock::new()),
            }
            .into_shared()
        })
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

/// An HTTP client whose TLS configuration is checked by the first SDK client built over it.
#[derive(Debug, Clone)]
struct ValidatedOnce {
    inner: SharedHttpClient,
    validated: Arc<OnceLock<()>>,
}

impl HttpClient for ValidatedOnce {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.inner.http_connector(settings, components)
    }

    fn validate_base_client_config(
        &self,
        components: &RuntimeComponentsBuilder,
        config: &ConfigBag,
    ) -> Result<(), BoxError> {
        let mut result = Ok(());
        self.validated.get_or_init(|| {
            result = self.inner.validate_base_client_config(components, config);
        });
        result
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

    use super::*;

    /// Counts the TLS checks it is asked for.
    #[derive(Debug, Clone, Default)]
    struct Counting(Arc<AtomicUsize>);

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
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    #[test]
    fn ten_sdk_clients_over_the_shared_client_check_its_tls_configuration_once() {
        let counting = Counting::default();
        let shared = ValidatedOnce {
            inner: counting.clone().into_shared(),
            validated: Arc::new(OnceLock::new()),
        };
        let (components, config) = (RuntimeComponentsBuilder::new("test"), ConfigBag::base());

        for _ in 0..10 {
            assert!(shared
                .clone()
                .validate_base_client_config(&components, &config)
                .is_ok());
        }

        assert_eq!(counting.0.load(Ordering::SeqCst), 1);
    }
}
