//! Bar charts drawn as SVG on the server: no script, no chart library. Each chart has a
//! `<title>` and `<desc>` for assistive technology and is followed on the page by the
//! same figures as a table, so nothing is said by the picture alone. Colours come from
//! classes in the stylesheet (the page's Content-Security-Policy allows no inline style).

use maud::{Markup, html};

/// Width and height of the drawing, in SVG units (it scales to the page).
const W: u64 = 720;
const H: u64 = 260;
/// Room for the axis labels.
const LEFT: u64 = 56;
const BOTTOM: u64 = 40;
const TOP: u64 = 16;

/// A bar chart of `bars` (label, value), titled `title` and described by `desc`.
/// Labels are thinned so that at most about 12 show.
pub fn bars(id: &str, title: &str, desc: &str, bars: &[(String, u64)]) -> Markup {
    let max = bars.iter().map(|b| b.1).max().unwrap_or(0).max(1);
    let top = nice_ceiling(max);
    let n = bars.len().max(1) as u64;
    let plot_w = W - LEFT - 8;
    let plot_h = H - TOP - BOTTOM;
    let slot = plot_w / n;
    let bar_w = (slot * 7 / 10).max(1);
    let every = bars.len().div_ceil(12).max(1);
    let title_id = format!("{id}-title");
    let desc_id = format!("{id}-desc");
    let cap_id = format!("{id}-caption");
    html! {
        figure class="lg-chart" id=(id) data-live {
            figcaption class="lg-chart__caption" id=(cap_id) { (title) }
            div class="lg-chart__scroll" role="region" aria-labelledby=(cap_id) tabindex="0" {
                svg xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 " (W) " " (H) } role="img" aria-labelledby={ (title_id) " " (desc_id) } {
                    title id=(title_id) { (title) }
                    desc id=(desc_id) { (desc) }
                    @for i in 0..=4u64 {
                        @let y = TOP + plot_h - plot_h * i / 4;
                        line class="lg-chart__grid" x1=(LEFT) x2=(W - 8) y1=(y) y2=(y) {}
                        text x=(LEFT - 6) y=(y + 5) text-anchor="end" { (super::page::num(top * i / 4)) }
                    }
                    @for (i, (label, v)) in bars.iter().enumerate() {
                        @let h = u64::try_from(u128::from(plot_h) * u128::from(*v) / u128::from(top)).unwrap_or(plot_h);
                        @let x = LEFT + slot * i as u64 + (slot - bar_w) / 2;
                        rect class="lg-chart__bar" x=(x) y=(TOP + plot_h - h) width=(bar_w) height=(h) {}
                        @if i % every == 0 {
                            text x=(x + bar_w / 2) y=(H - BOTTOM + 18) text-anchor="middle" { (label) }
                        }
                    }
                    line class="lg-chart__axis" x1=(LEFT) x2=(W - 8) y1=(TOP + plot_h) y2=(TOP + plot_h) {}
                }
            }
        }
    }
}

/// The smallest 1, 2 or 5 × 10ⁿ at or above `v`.
fn nice_ceiling(v: u64) -> u64 {
    let mut step = 1u64;
    loop {
        for m in [1, 2, 5] {
            if let Some(c) = step.checked_mul(m)
                && c >= v
            {
                return c;
            }
        }
        match step.checked_mul(10) {
            Some(s) => step = s,
            None => return u64::MAX,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_ends_on_a_round_number_and_labels_are_escaped() {
        assert_eq!(nice_ceiling(1), 1);
        assert_eq!(nice_ceiling(3), 5);
        assert_eq!(nice_ceiling(11), 20);
        assert_eq!(nice_ceiling(501), 1000);
        let svg = bars("c", "T", "D", &[("<b>".into(), 3), ("x".into(), 0)]).into_string();
        assert!(svg.contains("&lt;b&gt;"), "{svg}");
        assert!(!svg.contains("<b>"), "{svg}");
    }
}
