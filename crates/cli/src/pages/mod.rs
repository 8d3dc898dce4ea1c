//! One self-contained HTML page per view, for people who would rather look than read a table:
//! [`preflight_page`] (what a retirement would hurt today) and [`status_page`] (where each notice
//! stands, AWS's window drawn as a timeline).
//!
//! Each page is a single file with its style inline: no script, no link, no font or image to
//! fetch, so it opens from a mail attachment or an artifact store as it is. Values are
//! HTML-escaped by minijinja (auto-escape for `.html` templates). The templates stay logic-light:
//! grouping, labels and timeline positions are computed here and passed as plain values.

mod preflight;
mod status;
mod timeline;

use chrono::{DateTime, Utc};
use minijinja::Environment;
use serde::Serialize;

pub use preflight::preflight_page;
pub use status::status_page;
pub use timeline::{percent, Span};

/// A page that could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A template failed to load or to render: a bug in the templates, not in the input.
    #[error("cannot render the {page} page (template {template}): {source}")]
    Template {
        page: &'static str,
        template: &'static str,
        #[source]
        source: minijinja::Error,
    },
}

const TEMPLATES: [(&str, &str); 4] = [
    ("layout.html", include_str!("layout.html")),
    ("style.css", include_str!("style.css")),
    ("preflight.html", include_str!("preflight.html")),
    ("status.html", include_str!("status.html")),
];

/// Renders `template` with `view`; `page` names the page in the error.
fn render(
    page: &'static str,
    template: &'static str,
    view: impl Serialize,
) -> Result<String, Error> {
    let failed = |source| Error::Template {
        page,
        template,
        source,
    };
    let mut env = Environment::new();
    for (name, source) in TEMPLATES {
        env.add_template(name, source).map_err(failed)?;
    }
    env.get_template(template)
        .and_then(|t| t.render(view))
        .map_err(failed)
}

/// How the pages print a moment: to the minute, in UTC.
fn moment(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// [`moment`], or a dash.
fn maybe_moment(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "-".to_owned(), moment)
}
