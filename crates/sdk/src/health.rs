//! AWS Health, asked whether a notice is real ([`remediator_core::confirm`]).
//!
//! Health is a global service with one endpoint per partition (AWS Health API reference,
//! "AWS Health endpoints"): `health.us-east-1.amazonaws.com` for the commercial partition,
//! `health.cn-northwest-1.amazonaws.com.cn` for China, `health.us-gov-west-1.amazonaws.com` for
//! GovCloud (US); the client is built for that Region of the function's partition. An event of
//! the function's own account is asked with `DescribeEventDetails` / `DescribeAffectedEntities`;
//! a member account's with the `…ForOrganization` operations and `{eventArn, awsAccountId}`
//! filters (the organizational view, enabled from the management account).

use aws_config::{Region, SdkConfig};
use aws_sdk_health::types::{EntityAccountFilter, EntityFilter, EventAccountFilter};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use remediator_core::confirm::{HealthRecord, Lookup, LookupError};

/// Pages of affected entities read at most (100 each): a notice names far fewer.
const MAX_PAGES: usize = 50;

/// The Region of a partition's Health endpoint.
pub fn health_region(function_region: Option<&str>) -> &'static str {
    match function_region {
        Some(r) if r.starts_with("cn-") => "cn-northwest-1",
        Some(r) if r.starts_with("us-gov-") => "us-gov-west-1",
        _ => "us-east-1",
    }
}

/// AWS Health through the SDK.
#[derive(Debug, Clone)]
pub struct SdkHealth {
    client: aws_sdk_health::Client,
}

fn lookup_error<E, R>(operation: &str, error: &SdkError<E, R>) -> LookupError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let text = aws_smithy_types::error::display::DisplayErrorContext(error).to_string();
    match error {
        SdkError::ServiceError(se) => match se.err().code().unwrap_or_default() {
            "SubscriptionRequiredException" => LookupError {
                reason: format!("{operation}: the AWS Health API needs a Business, Enterprise On-Ramp or Enterprise Support plan; without one set ConfirmNotices off"),
                retryable: false,
            },
            "ThrottlingException" | "TooManyRequestsException" | "InternalFailure"
            | "ServiceUnavailable" => LookupError {
                reason: format!("{operation}: {text}"),
                retryable: true,
            },
            "AccessDeniedException" | "AccessDenied" => LookupError {
                reason: format!("{operation} was refused ({text}): grant the function health:{operation}"),
                retryable: false,
            },
            _ => LookupError {
                reason: format!("{operation}: {text}"),
                retryable: false,
            },
        },
        _ => LookupError {
            reason: format!("{operation}: {text}"),
            retryable: true,
        },
    }
}

/// A builder's refusal (a required field missing): not worth retrying.
fn build_error(e: aws_sdk_health::error::BuildError) -> LookupError {
    LookupError {
        reason: e.to_string(),
        retryable: false,
    }
}

/// Health's answer when no event came back: the first failure it names, else `fallback`.
fn unknown(failure: Option<(Option<&str>, Option<&str>)>, fallback: &str) -> Lookup {
    Lookup::Unknown(failure.map_or(fallback.to_owned(), |(name, message)| {
        format!(
            "{}: {}",
            name.unwrap_or("not found"),
            message.unwrap_or_default()
        )
    }))
}

/// What Health says of `event`, with the `entities` it lists.
fn found(event: &aws_sdk_health::types::Event, entities: Vec<String>) -> Lookup {
    Lookup::Found(HealthRecord {
        service: event.service().unwrap_or_default().to_owned(),
        region: event.region().map(str::to_owned),
        event_type_code: event.event_type_code().unwrap_or_default().to_owned(),
        entities,
    })
}

impl SdkHealth {
    /// A client for the Health endpoint of `base`'s partition.
    pub fn new(base: &SdkConfig) -> Self {
        let region = health_region(base.region().map(|r| r.as_ref()));
        let config = base.to_builder().region(Region::new(region)).build();
        SdkHealth {
            client: aws_sdk_health::Client::new(&config),
        }
    }

    /// What Health says of `arn`: for the function's own account (`member` `None`), or for
    /// member account `member` through the organizational view.
    pub async fn look_up(&self, arn: &str, member: Option<&str>) -> Result<Lookup, LookupError> {
        match member {
            None => self.own(arn).await,
            Some(account) => self.organization(arn, account).await,
        }
    }

    async fn own(&self, arn: &str) -> Result<Lookup, LookupError> {
        let details = self
            .client
            .describe_event_details()
            .event_arns(arn)
            .send()
            .await
            .map_err(|e| lookup_error("DescribeEventDetails", &e))?;
        let Some(event) = details.successful_set().iter().find_map(|d| d.event()) else {
            let failure = details
                .failed_set()
                .first()
                .map(|f| (f.error_name(), f.error_message()));
            return Ok(unknown(failure, "no such event"));
        };
        let mut entities = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self
                .client
                .describe_affected_entities()
                .filter(
                    EntityFilter::builder()
                        .event_arns(arn)
                        .build()
                        .map_err(build_error)?,
                )
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| lookup_error("DescribeAffectedEntities", &e))?;
            entities.extend(
                page.entities()
                    .iter()
                    .filter_map(|e| e.entity_value().map(str::to_owned)),
            );
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => break,
            }
        }
        Ok(found(event, entities))
    }

    async fn organization(&self, arn: &str, account: &str) -> Result<Lookup, LookupError> {
        let filter = || {
            EventAccountFilter::builder()
                .event_arn(arn)
                .aws_account_id(account)
                .build()
                .map_err(build_error)
        };
        let details = self
            .client
            .describe_event_details_for_organization()
            .organization_event_detail_filters(filter()?)
            .send()
            .await
            .map_err(|e| lookup_error("DescribeEventDetailsForOrganization", &e))?;
        let Some(event) = details.successful_set().iter().find_map(|d| d.event()) else {
            let failure = details
                .failed_set()
                .first()
                .map(|f| (f.error_name(), f.error_message()));
            return Ok(unknown(failure, "no such event for the account"));
        };
        let mut entities = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self
                .client
                .describe_affected_entities_for_organization()
                .organization_entity_account_filters(
                    EntityAccountFilter::builder()
                        .event_arn(arn)
                        .aws_account_id(account)
                        .build()
                        .map_err(build_error)?,
                )
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| lookup_error("DescribeAffectedEntitiesForOrganization", &e))?;
            entities.extend(
                page.entities()
                    .iter()
                    .filter(|e| e.aws_account_id().is_none_or(|a| a == account))
                    .filter_map(|e| e.entity_value().map(str::to_owned)),
            );
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => break,
            }
        }
        Ok(found(event, entities))
    }
}
