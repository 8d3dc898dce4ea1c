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

/// The token for `prod-cluster` in `region`, signed with the fixed example credentials and
/// `session_token` at 2026-11-25T12:00:00Z.
fn token_with(session_token: Option<String>, region: &str) -> String {
    let credentials = Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        session_token,
        None,
        "test",
    );
    let at = UNIX_EPOCH + Duration::from_secs(1_795_608_000); // 2026-11-25T12:00:00Z
    eks_token("prod-cluster", &credentials, region, at).expect("token")
}

fn token() -> String {
    token_with(None, "eu-west-1")
}

fn decoded_url() -> String {
    url_of(&token())
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

/// A session token shaped like the ones Lambda's credentials carry (about a kilobyte, with the
/// `/`, `+` and `=` that must be percent-encoded in the query).
fn lambda_session_token() -> String {
    "FwoGZXIvYXdzE/+=".repeat(64)
}

/// Signatures botocore makes through the AWS CLI's own token generator
/// (`awscli.customizations.eks.get_token.STSClientFactory` + `TokenGenerator`, i.e.
/// `aws eks get-token --cluster-name prod-cluster --region REGION`) with the fixed credentials
/// above, [`lambda_session_token`] as the session token, at 2026-11-25T12:00:00Z.
const GET_TOKEN_VECTORS: [(&str, &str, &str); 3] = [
    (
        "us-east-1",
        "sts.us-east-1.amazonaws.com",
        "1165ea0f3facfdc67b938442c9b40e7320df4804a2ccb19241b4579916e2a84b",
    ),
    (
        "cn-north-1",
        "sts.cn-north-1.amazonaws.com.cn",
        "65cce78ef75e7092e6df0c8644e04381e975be68d2e1be6323be0b733e916ca6",
    ),
    (
        "us-gov-west-1",
        "sts.us-gov-west-1.amazonaws.com",
        "6f85199ecaf8073f5af8c845e062b9aa2a3e43e6952e0fd15de43166cf81a16f",
    ),
];

/// The only query parameters aws-iam-authenticator (the EKS API server's token verifier)
/// accepts in the presigned URL.
const AUTHENTICATOR_PARAMETERS: [&str; 9] = [
    "Action",
    "Version",
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-Security-Token",
    "X-Amz-Signature",
    "X-Amz-SignedHeaders",
];

/// The token aws-iam-authenticator rejects above this many bytes.
const AUTHENTICATOR_MAX_TOKEN: usize = 4096;

fn session_token_for(region: &str) -> String {
    token_with(Some(lambda_session_token()), region)
}

fn url_of(token: &str) -> String {
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

fn host_of(url: &str) -> &str {
    url.strip_prefix("https://")
        .and_then(|rest| rest.split_once('/'))
        .map(|(host, _)| host)
        .unwrap_or_else(|| panic!("not an https URL: {url}"))
}

fn percent_decoded(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("ascii");
            out.push(u8::from_str_radix(hex, 16).expect("hex escape"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("utf-8")
}

fn host_for(region: &str) -> String {
    host_of(&url_of(&session_token_for(region))).to_owned()
}

#[test]
fn the_sts_host_is_the_one_of_the_regions_partition() {
    assert_eq!(host_for("us-east-1"), "sts.us-east-1.amazonaws.com");
    assert_eq!(host_for("eu-west-1"), "sts.eu-west-1.amazonaws.com");
    assert_eq!(host_for("cn-north-1"), "sts.cn-north-1.amazonaws.com.cn");
    assert_eq!(
        host_for("cn-northwest-1"),
        "sts.cn-northwest-1.amazonaws.com.cn"
    );
    assert_eq!(host_for("us-gov-west-1"), "sts.us-gov-west-1.amazonaws.com");
    assert_eq!(host_for("us-gov-east-1"), "sts.us-gov-east-1.amazonaws.com");
}

/// Every partition in the AWS SDK's own table (the one compiled into `aws-sdk-eks`): the token's
/// STS host has the DNS suffix the SDK resolves for the same Region. When an SDK update adds a
/// partition, add a Region of it here.
#[tokio::test]
async fn the_sts_host_suffix_agrees_with_the_sdk_partition_table() {
    use aws_sdk_eks::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
    let resolver = DefaultResolver::new();
    for region in [
        "us-east-1",
        "ap-southeast-7",
        "cn-north-1",
        "us-gov-west-1",
        "eusc-de-east-1",
        "us-iso-east-1",
        "us-isob-east-1",
        "us-isof-south-1",
        "eu-isoe-west-1",
    ] {
        let params = Params::builder()
            .region(region)
            .use_fips(false)
            .use_dual_stack(false)
            .build()
            .expect("params");
        let eks = resolver
            .resolve_endpoint(&params)
            .await
            .expect("the SDK knows the Region's partition");
        let eks_host = host_of(&format!("{}/", eks.url())).to_owned();
        let suffix = eks_host
            .strip_prefix(&format!("eks.{region}."))
            .unwrap_or_else(|| panic!("EKS endpoint {eks_host} is not eks.{region}.SUFFIX"));
        assert_eq!(
            host_for(region),
            format!("sts.{region}.{suffix}"),
            "{region}"
        );
    }
}

/// Lambda's credentials always carry a session token: it must be in the presigned query and in
/// the signature, byte for byte as `aws eks get-token` signs it, in every partition.
#[test]
fn with_a_session_token_the_token_is_what_aws_eks_get_token_makes_in_each_partition() {
    for (region, host, signature) in GET_TOKEN_VECTORS {
        let token = session_token_for(region);
        assert!(token.starts_with("k8s-aws-v1."), "{token}");
        assert!(
            !token.contains('=') && !token.contains('+') && !token.contains('/'),
            "base64url without padding: {token}"
        );
        assert!(
            token.len() <= AUTHENTICATOR_MAX_TOKEN,
            "{region}: {} bytes",
            token.len()
        );
        let url = url_of(&token);
        assert_eq!(host_of(&url), host, "{url}");
        assert_eq!(
            query(&url, "X-Amz-Security-Token").map(|t| percent_decoded(&t)),
            Some(lambda_session_token()),
            "{url}"
        );
        assert_eq!(
            query(&url, "X-Amz-Credential").as_deref(),
            Some(format!("AKIDEXAMPLE%2F20261125%2F{region}%2Fsts%2Faws4_request").as_str())
        );
        assert_eq!(
            query(&url, "X-Amz-SignedHeaders").as_deref(),
            Some("host%3Bx-k8s-aws-id")
        );
        assert_eq!(
            query(&url, "X-Amz-Signature").as_deref(),
            Some(signature),
            "{region}: {url}"
        );
        let (_, query_string) = url.split_once('?').expect("query");
        for pair in query_string.split('&') {
            let name = pair.split_once('=').map_or(pair, |(n, _)| n);
            assert!(
                AUTHENTICATOR_PARAMETERS.contains(&name),
                "aws-iam-authenticator rejects parameter {name}"
            );
        }
    }
}
