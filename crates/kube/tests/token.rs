//! The EKS token against a reference vector made by botocore (the library behind
//! `aws eks get-token`) with the same fixed credentials and time:
//! `client("sts", "eu-west-1").generate_presigned_url("get_caller_identity", ExpiresIn=60)` with
//! the `x-k8s-aws-id: prod-cluster` header added before signing, at 2026-11-25T12:00:00Z.

use std::time::{Duration, UNIX_EPOCH};

use aws_credential_types::Credentials;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use remediator_kube::token::{eks_token, TOKEN_PREFIX};

const BOTOCORE_SIGNATURE: &str = "9e15bea112df403d209cd2e0b043d561b0cd4f3462e819523cefc57c3a61f8e0";

fn token() -> String {
    let credentials = Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        None,
        None,
        "test",
    );
    let at = UNIX_EPOCH + Duration::from_secs(1_795_608_000); // 2026-11-25T12:00:00Z
    eks_token("prod-cluster", &credentials, "eu-west-1", at).expect("token")
}

fn decoded_url() -> String {
    let token = token();
    let encoded = token
        .strip_prefix(TOKEN_PREFIX)
        .expect("k8s-aws-v1. prefix");
    String::from_utf8(
        URL_SAFE_NO_PAD
            .decode(encoded)
            .expect("base64url without padding"),
    )
    .expect("utf-8")
}

fn query(url: &str, name: &str) -> Option<String> {
    url.split_once('?')?
        .1
        .split('&')
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")).map(str::to_owned))
}

#[test]
fn the_token_is_the_prefix_and_unpadded_base64url() {
    let token = token();
    assert!(token.starts_with("k8s-aws-v1."), "{token}");
    assert!(!token.contains('='), "no padding: {token}");
    assert!(
        !token.contains('+') && !token.contains('/'),
        "url-safe alphabet: {token}"
    );
}

#[test]
fn the_url_presigns_get_caller_identity_on_the_regional_sts_endpoint_for_sixty_seconds() {
    let url = decoded_url();
    assert!(
        url.starts_with("https://sts.eu-west-1.amazonaws.com/?"),
        "{url}"
    );
    assert_eq!(query(&url, "Action").as_deref(), Some("GetCallerIdentity"));
    assert_eq!(query(&url, "Version").as_deref(), Some("2011-06-15"));
    assert_eq!(query(&url, "X-Amz-Expires").as_deref(), Some("60"));
    assert_eq!(
        query(&url, "X-Amz-Date").as_deref(),
        Some("20261125T120000Z")
    );
    assert_eq!(
        query(&url, "X-Amz-Credential").as_deref(),
        Some("AKIDEXAMPLE%2F20261125%2Feu-west-1%2Fsts%2Faws4_request")
    );
    assert_eq!(
        query(&url, "X-Amz-SignedHeaders").as_deref(),
        Some("host%3Bx-k8s-aws-id")
    );
}

#[test]
fn the_signature_matches_the_botocore_vector() {
    assert_eq!(
        query(&decoded_url(), "X-Amz-Signature").as_deref(),
        Some(BOTOCORE_SIGNATURE)
    );
}
