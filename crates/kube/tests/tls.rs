//! The TLS trap the shared crates notes describe: with two rustls crypto providers in the build, making an HTTPS
//! Kubernetes client panics at start-up. Only aws-lc-rs (the AWS SDK's) must be there.

#[tokio::test]
async fn an_https_kubernetes_client_can_be_made_without_a_crypto_provider_panic() {
    let url = "https://127.0.0.1:6443".parse().expect("url");
    let config = kube::Config::new(url);

    let client = kube::Client::try_from(config);

    assert!(client.is_ok(), "{:?}", client.err());
}
