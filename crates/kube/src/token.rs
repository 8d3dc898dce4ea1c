//! The EKS bearer token, as `aws eks get-token` makes it: `k8s-aws-v1.` followed by the
//! base64url (no padding) of an STS `GetCallerIdentity` URL presigned with SigV4 in its query
//! (`X-Amz-Expires=60`), whose signed headers include `x-k8s-aws-id: CLUSTER`. The API server's
//! authenticator calls that URL to learn who we are; nothing else is sent to STS.

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

/// The token could not be signed.
#[derive(Debug, thiserror::Error)]
#[error("cannot sign the EKS token: {0}")]
pub struct TokenError(String);

/// A bearer token for `cluster`, signed with `credentials` for the STS endpoint of `region`, as
/// of `time` (valid for 60 s from then; EKS accepts it for up to 15 minutes).
pub fn eks_token(
    cluster: &str,
    credentials: &Credentials,
    region: &str,
    time: SystemTime,
) -> Result<String, TokenError> {
    let host = format!("sts.{region}.amazonaws.com");
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
