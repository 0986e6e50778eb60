//! Which text format `/metrics` answers in.
//!
//! prometheus-client writes OpenMetrics, which Prometheus asks for and reads. The older
//! Prometheus text format (0.0.4) is still what a client gets that does not ask:
//! `promtool check metrics` reads only that one (an OpenMetrics counter's `# TYPE x
//! counter` does not name its sample `x_total`, so promtool finds samples without help
//! and a family without samples). The samples are the same in both; only the metadata
//! lines differ.

use std::collections::HashMap;

/// A text format for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0.0, for a client that prefers it (Prometheus).
    OpenMetrics,
    /// The Prometheus text format 0.0.4, for everyone else (`curl`, `promtool`).
    Text,
}

impl Format {
    /// The format an `Accept` header asks for: OpenMetrics when it is preferred at least
    /// as much as plain text (Prometheus sends `application/openmetrics-text;
    /// version=1.0.0,…,text/plain;version=0.0.4;q=0.5,*/*;q=0.1`), the text format
    /// otherwise and when there is no header.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let (mut openmetrics, mut text) = (0.0_f64, 0.0_f64);
        for range in accept.unwrap_or("").split(',') {
            let mut params = range.split(';');
            let media = params.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = params
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
                .and_then(|(_, v)| v.trim().parse::<f64>().ok())
                .unwrap_or(1.0);
            match media.as_str() {
                "application/openmetrics-text" => openmetrics = openmetrics.max(q),
                "text/plain" | "text/*" | "*/*" => text = text.max(q),
                _ => {}
            }
        }
        if openmetrics > 0.0 && openmetrics >= text {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }

    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
        }
    }

    /// `openmetrics`, an exposition as prometheus-client writes it, in this format.
    pub(crate) fn finish(self, openmetrics: String) -> String {
        match self {
            Format::OpenMetrics => openmetrics,
            Format::Text => to_text(&openmetrics),
        }
    }
}

/// The text format of an OpenMetrics exposition. OpenMetrics names a counter family
/// without its samples' `_total` and an info family without `_info`, where the text
/// format names the samples (and has no info type: such a family is a gauge); it calls
/// an untyped family `unknown`; and it has `# UNIT` and `# EOF` lines, which the text
/// format has not. prometheus-client writes no other types (no summaries, state sets or
/// gauge histograms) and no exemplars unless asked.
fn to_text(openmetrics: &str) -> String {
    // A family's HELP comes before its TYPE: read the types first.
    let types: HashMap<&str, &str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.split_once(' '))
        .collect();
    let name_of = |family: &str| -> String {
        match types.get(family) {
            Some(&"counter") => format!("{family}_total"),
            Some(&"info") => format!("{family}_info"),
            _ => family.to_owned(),
        }
    };
    let mut out = String::with_capacity(openmetrics.len() + 8 * types.len());
    for line in openmetrics.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (family, help) = rest.split_once(' ').unwrap_or((rest, ""));
            out.push_str(&format!("# HELP {} {help}", name_of(family)));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (family, kind) = rest.split_once(' ').unwrap_or((rest, "unknown"));
            let kind = match kind {
                "info" => "gauge",
                "unknown" => "untyped",
                k => k,
            };
            out.push_str(&format!("# TYPE {} {kind}", name_of(family)));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_gets_openmetrics_and_everyone_else_text() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text")),
            Format::OpenMetrics
        );
        for accept in [
            None,
            Some(""),
            Some("*/*"),
            Some("text/plain"),
            Some("text/plain;version=0.0.4"),
            Some("application/json"),
            Some("text/plain, application/openmetrics-text;q=0.5"),
            Some("application/openmetrics-text;q=0"),
        ] {
            assert_eq!(Format::negotiate(accept), Format::Text, "{accept:?}");
        }
    }

    #[test]
    fn text_names_the_series_and_drops_what_it_lacks() {
        let om = "\
# HELP a_requests Requests.
# TYPE a_requests counter
a_requests_total{path=\"x\"} 3
# HELP a_held_seconds Time held.
# TYPE a_held_seconds counter
# UNIT a_held_seconds seconds
a_held_seconds_total 0.25
# HELP a_peers Peers.
# TYPE a_peers gauge
a_peers 2
# HELP a_build Build.
# TYPE a_build info
a_build_info{version=\"1\"} 1
# HELP a_odd Odd.
# TYPE a_odd unknown
a_odd 1
# HELP a_rtt_seconds Round trips.
# TYPE a_rtt_seconds histogram
a_rtt_seconds_sum 0.5
a_rtt_seconds_count 1
a_rtt_seconds_bucket{le=\"+Inf\"} 1
# EOF
";
        let text = "\
# HELP a_requests_total Requests.
# TYPE a_requests_total counter
a_requests_total{path=\"x\"} 3
# HELP a_held_seconds_total Time held.
# TYPE a_held_seconds_total counter
a_held_seconds_total 0.25
# HELP a_peers Peers.
# TYPE a_peers gauge
a_peers 2
# HELP a_build_info Build.
# TYPE a_build_info gauge
a_build_info{version=\"1\"} 1
# HELP a_odd Odd.
# TYPE a_odd untyped
a_odd 1
# HELP a_rtt_seconds Round trips.
# TYPE a_rtt_seconds histogram
a_rtt_seconds_sum 0.5
a_rtt_seconds_count 1
a_rtt_seconds_bucket{le=\"+Inf\"} 1
";
        assert_eq!(Format::Text.finish(om.to_owned()), text);
        assert_eq!(Format::OpenMetrics.finish(om.to_owned()), om);
    }
}
