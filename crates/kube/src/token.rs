//! The EKS bearer token, as `aws eks get-token` makes it: `k8s-aws-v1.` followed by the
//! base64url (no padding) of an STS `GetCallerIdentity` URL presigned with SigV4 in its query
//! (`X-Amz-Expires=60`), whose signed headers include `x-k8s-aws-id: CLUSTER`. The API server's
//! authenticator calls that URL to learn who we are; nothing else is sent to STS.
//!
//! The URL's host is the STS endpoint of the Region *in its partition*
//! (`sts.cn-north-1.amazonaws.com.cn` in China): the authenticator accepts only the STS
//! hostnames of the partition the cluster runs in, and the host is signed. See [`sts_host`].
//!
//! The authenticator accepts a token for [`TOKEN_LIFETIME`] after its `X-Amz-Date` whatever
//! `X-Amz-Expires` says (aws-iam-authenticator `pkg/token`: "presigned STS urls are valid for 15
//! minutes after timestamp in x-amz-date"; `aws eks get-token` declares 14 minutes), and never
//! after the signing credentials expire.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// The prefix EKS expects.
pub const TOKEN_PREFIX: &str = "k8s-aws-v1.";
/// The header naming the cluster, signed into the URL.
pub const CLUSTER_HEADER: &str = "x-k8s-aws-id";

/// How long the API server accepts a token after it was signed.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// The DNS suffix of each AWS partition but the commercial one, by the prefix its Region names
/// start with. From the partitions table the AWS SDKs compile in (`partitions.json` 1.1, as in
/// `aws-sdk-eks`'s endpoint resolver: each partition's `regionRegex` and `outputs.dnsSuffix`);
/// no maintained crate exposes that table as a function, and the test
/// `the_sts_host_suffix_agrees_with_the_sdk_partition_table` checks this copy against it.
/// `us-gov-` (GovCloud) shares the commercial suffix but is listed to be explicit.
const PARTITION_SUFFIXES: [(&str, &str, &str); 7] = [
    ("cn-", "aws-cn", "amazonaws.com.cn"),
    ("us-gov-", "aws-us-gov", "amazonaws.com"),
    ("eusc-", "aws-eusc", "amazonaws.eu"),
    ("us-iso-", "aws-iso", "c2s.ic.gov"),
    ("us-isob-", "aws-iso-b", "sc2s.sgov.gov"),
    ("us-isof-", "aws-iso-f", "csp.hci.ic.gov"),
    ("eu-isoe-", "aws-iso-e", "cloud.adc-e.uk"),
];

/// The partition a Region belongs to (`aws`, `aws-cn`, `aws-us-gov`, …) and its DNS suffix.
pub fn partition(region: &str) -> (&'static str, &'static str) {
    PARTITION_SUFFIXES
        .iter()
        .find(|(prefix, _, _)| region.starts_with(prefix))
        .map_or(("aws", "amazonaws.com"), |(_, id, suffix)| (id, suffix))
}

/// The regional STS endpoint host the token is presigned for: `sts.REGION.SUFFIX`, the suffix
/// being the Region's partition's (`amazonaws.com`, `amazonaws.com.cn` for `cn-*`, …), as
/// `aws eks get-token` resolves it and as the authenticator's per-partition host list has it.
pub fn sts_host(region: &str) -> String {
    format!("sts.{region}.{}", partition(region).1)
}

/// The token could not be signed.
#[derive(Debug, thiserror::Error)]
#[error("cannot sign the EKS token: {0}")]
pub struct TokenError(String);

/// A bearer token for `cluster`, signed with `credentials` for the STS endpoint of `region` (in
/// its partition), as of `time`: the API server accepts it for [`TOKEN_LIFETIME`] from `time`,
/// and not after `credentials` expire. With a session token (always, for Lambda's role
/// credentials) the URL carries it as `X-Amz-Security-Token`, signed.
pub fn eks_token(
    cluster: &str,
    credentials: &Credentials,
    region: &str,
    time: SystemTime,
) -> Result<String, TokenError> {
    let host = sts_host(region);
    let url = format!("https://{host}/?Action=GetCallerIdentity&Version=2011-06-15");
    let identity = credentials.clone().into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(60));
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| TokenError(e.to_string()))?
        .into();
    let request = SignableRequest::new(
        "GET",
        url.as_str(),
        [("host", host.as_str()), (CLUSTER_HEADER, cluster)].into_iter(),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| TokenError(e.to_string()))?;
    let (instructions, _signature) = sign(request, &params)
        .map_err(|e| TokenError(e.to_string()))?
        .into_parts();
    // The crate writes the signature into the query string itself, encoded as it signed it.
    let mut presigned = http::Request::get(url.as_str())
        .body(())
        .map_err(|e| TokenError(e.to_string()))?;
    instructions.apply_to_request_http1x(&mut presigned);
    Ok(format!(
        "{TOKEN_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(presigned.uri().to_string())
    ))
}
