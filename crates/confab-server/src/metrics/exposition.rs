//! The two text formats Prometheus scrapes, and the choice between them.
//!
//! `prometheus-client` writes OpenMetrics 1.0. The classic Prometheus text format 0.0.4 says the
//! same with three differences, rewritten here: a counter family is named with its `_total`
//! suffix in `# HELP` and `# TYPE`, there is no `# UNIT` line and no `# EOF`, and samples carry
//! no exemplars (` # {…}` after the value) and no `_created` series.

use std::collections::HashMap;

/// A text format of the exposition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0 (`application/openmetrics-text`), what Prometheus asks for first.
    OpenMetrics,
    /// The classic Prometheus text format 0.0.4 (`text/plain`).
    Classic,
}

impl Format {
    /// The format an `Accept` header prefers: the media type with the higher `q` of
    /// `application/openmetrics-text` and `text/plain`. OpenMetrics when neither is named (no
    /// header, `*/*`) or on a tie.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let (mut openmetrics, mut text) = (None::<f32>, None::<f32>);
        for range in accept.unwrap_or("").split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let slot = match media.as_str() {
                "application/openmetrics-text" => &mut openmetrics,
                "text/plain" => &mut text,
                _ => continue,
            };
            *slot = Some(slot.map_or(q, |best| best.max(q)));
        }
        match (openmetrics, text) {
            (None, Some(t)) if t > 0.0 => Format::Classic,
            (Some(o), Some(t)) if t > o => Format::Classic,
            _ => Format::OpenMetrics,
        }
    }

    /// The `Content-Type` of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Classic => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

/// How a family of an OpenMetrics type is declared in the classic format: the suffix its name
/// takes, and its type there.
fn classic(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "counter" => ("_total", "counter"),
        "info" => ("_info", "gauge"),
        "gauge" => ("", "gauge"),
        "stateset" => ("", "gauge"),
        "histogram" => ("", "histogram"),
        "summary" => ("", "summary"),
        _ => ("", "untyped"),
    }
}

/// Rewrites an OpenMetrics exposition in the classic text format 0.0.4.
pub fn to_classic(openmetrics: &str) -> String {
    // The type of each family: `# HELP` comes before `# TYPE`, so the types are read first.
    let types: HashMap<&str, &str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .collect();
    let declared = |name: &str| classic(types.get(name).copied().unwrap_or("unknown"));
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            let (suffix, _) = declared(name);
            out.push_str(&format!("# HELP {name}{suffix} {help}\n"));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split_once(' ').map_or(rest, |(name, _)| name);
            let (suffix, kind) = declared(name);
            out.push_str(&format!("# TYPE {name}{suffix} {kind}\n"));
        } else if line.starts_with('#') {
            // `# UNIT`, `# EOF`: not in this format.
        } else if !line.is_empty() {
            let sample = line.split_once(" # ").map_or(line, |(sample, _)| sample);
            let name = sample.split(['{', ' ']).next().unwrap_or("");
            let created_of_counter = name
                .strip_suffix("_created")
                .is_some_and(|family| types.get(family) == Some(&"counter"));
            if !created_of_counter {
                out.push_str(sample);
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_picks_the_preferred_format() {
        // What Prometheus sends by default, and with the classic format only.
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
                          version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
        let classic = "text/plain;version=0.0.4;q=1,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(classic)), Format::Classic);
        assert_eq!(Format::negotiate(Some("text/plain")), Format::Classic);
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text;q=0.2, text/plain;q=0.9")),
            Format::Classic
        );
        assert_eq!(Format::negotiate(None), Format::OpenMetrics);
        assert_eq!(Format::negotiate(Some("*/*")), Format::OpenMetrics);
        assert_eq!(
            Format::negotiate(Some("text/plain;q=0")),
            Format::OpenMetrics
        );
    }

    #[test]
    fn counters_are_named_with_total_and_openmetrics_only_lines_go() {
        let om = "# HELP confab_acks Acks given.\n\
                  # TYPE confab_acks counter\n\
                  confab_acks_total 3 # {trace_id=\"a\"} 1.0\n\
                  confab_acks_created 1700000000.0\n\
                  # HELP confab_sessions Sessions.\n\
                  # TYPE confab_sessions gauge\n\
                  confab_sessions 2\n\
                  # HELP confab_ack_seconds Ack time.\n\
                  # TYPE confab_ack_seconds histogram\n\
                  # UNIT confab_ack_seconds seconds\n\
                  confab_ack_seconds_sum 0.5\n\
                  confab_ack_seconds_count 1\n\
                  confab_ack_seconds_bucket{le=\"+Inf\"} 1\n\
                  # HELP confab_thing A thing.\n\
                  # TYPE confab_thing info\n\
                  confab_thing_info{v=\"1\"} 1\n\
                  # EOF\n";
        assert_eq!(
            to_classic(om),
            "# HELP confab_acks_total Acks given.\n\
             # TYPE confab_acks_total counter\n\
             confab_acks_total 3\n\
             # HELP confab_sessions Sessions.\n\
             # TYPE confab_sessions gauge\n\
             confab_sessions 2\n\
             # HELP confab_ack_seconds Ack time.\n\
             # TYPE confab_ack_seconds histogram\n\
             confab_ack_seconds_sum 0.5\n\
             confab_ack_seconds_count 1\n\
             confab_ack_seconds_bucket{le=\"+Inf\"} 1\n\
             # HELP confab_thing_info A thing.\n\
             # TYPE confab_thing_info gauge\n\
             confab_thing_info{v=\"1\"} 1\n"
        );
    }
}
