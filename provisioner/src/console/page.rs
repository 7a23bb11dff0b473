//! The console's HTML: the page around every view (navigation, who is signed in, the sign-out
//! form), escaping, and the small inline SVG charts. No script and no external resource: every
//! page works offline and without JavaScript.

use std::fmt::Write as _;

use super::session::Session;

pub use mlinfra_core::html::escape as esc;

/// A number for a table cell (see [`crate::report::num`]).
pub fn num(x: f64) -> String {
    crate::report::num(x)
}

const STYLE: &str = "body{margin:0;font:14px system-ui,sans-serif;color:#222}\
nav{background:#223;color:#eee;padding:.6rem 1.2rem;display:flex;gap:1.2rem;align-items:center}\
nav a{color:#eee;text-decoration:none}nav a.here{font-weight:bold;border-bottom:2px solid #e73}\
nav .who{margin-left:auto}nav form{display:inline;margin:0}nav button{font-size:12px}\
main{padding:1rem 1.5rem}table{border-collapse:collapse;margin:.6rem 0}\
td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}th{background:#f3f3f3}\
.flash{padding:.6rem 1rem;margin:.6rem 0;border-radius:4px}.flash.error{background:#fde8e8;color:#900}\
.flash.ok{background:#e6f4ea;color:#155724}code{font-size:12px}.stage-Production{color:#155724;font-weight:bold}\
.stage-Archived{color:#777}.stage-Staging{color:#a15c00}form.inline{display:inline}\
.cm td{text-align:right;min-width:3em}.chart{display:inline-block;margin:0 1.5rem 1rem 0;vertical-align:top}\
.pos{color:#b02a00}.neg{color:#0b5cad}label{display:inline-block;min-width:9em}\
fieldset{border:1px solid #ddd;margin:.6rem 0}input[type=number]{width:8em}";

/// What a view answers.
pub struct Page {
    pub status: u16,
    pub title: String,
    pub body: String,
}

impl Page {
    pub fn ok(title: &str, body: String) -> Page {
        Page {
            status: 200,
            title: title.to_string(),
            body,
        }
    }

    /// A page whose whole content is an error: the status, what went wrong and what to do.
    pub fn error(status: u16, title: &str, message: &str) -> Page {
        Page {
            status,
            title: title.to_string(),
            body: flash(false, message),
        }
    }
}

/// A message box: `ok` green, otherwise red (with `role="alert"`).
pub fn flash(ok: bool, message: &str) -> String {
    let mut s = String::new();
    for (i, line) in message.lines().enumerate() {
        if i > 0 {
            s.push_str("<br>");
        }
        s.push_str(&esc(line));
    }
    if ok {
        format!("<div class=\"flash ok\" role=\"status\">{s}</div>")
    } else {
        format!("<div class=\"flash error\" role=\"alert\">{s}</div>")
    }
}

const VIEWS: [(&str, &str); 5] = [
    ("/ui/runs", "Runs"),
    ("/ui/models", "Models"),
    ("/ui/data", "Data"),
    ("/ui/monitoring", "Monitoring"),
    ("/ui/try", "Try it"),
];

/// The whole HTML document: `extra_style` is the style of fragments shown inside.
pub fn document(page: &Page, here: &str, who: Option<&Session>, extra_style: &str) -> String {
    let mut h = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{} · mlinfra</title><style>{extra_style}{STYLE}</style></head><body><nav><strong>mlinfra</strong>",
        esc(&page.title)
    );
    if let Some(s) = who {
        for (href, name) in VIEWS {
            let _ = write!(
                h,
                "<a href=\"{href}\"{}>{name}</a>",
                if here.starts_with(href) {
                    " class=\"here\""
                } else {
                    ""
                }
            );
        }
        let _ = write!(
            h,
            "<span class=\"who\">signed in as <strong id=\"who\">{}</strong> <form method=\"post\" action=\"/ui/signout\">{}<button>Sign out</button></form></span>",
            esc(&s.account),
            csrf_field(&s.csrf)
        );
    }
    let _ = write!(
        h,
        "</nav><main><h1>{}</h1>\n{}</main></body></html>\n",
        esc(&page.title),
        page.body
    );
    h
}

pub fn csrf_field(token: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(token)
    )
}

/// A table from headers and rows of already-escaped HTML cells.
pub fn table(id: &str, headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut h = format!("<table id=\"{id}\"><thead><tr>");
    for c in headers {
        let _ = write!(h, "<th>{}</th>", esc(c));
    }
    h.push_str("</tr></thead><tbody>");
    for r in rows {
        h.push_str("<tr>");
        for c in r {
            let _ = write!(h, "<td>{c}</td>");
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table>");
    h
}

/// A line chart on the unit square (both axes 0 to 1) with the diagonal dashed: the ROC curve
/// and the calibration diagram.
pub fn unit_chart(title: &str, x: &str, y: &str, points: &[[f64; 2]]) -> String {
    let (w, h, pad) = (220.0, 220.0, 30.0);
    let sx = |v: f64| pad + v * (w - 2.0 * pad);
    let sy = |v: f64| h - pad - v * (h - 2.0 * pad);
    let line: Vec<String> = points
        .iter()
        .map(|p| format!("{:.1},{:.1}", sx(p[0]), sy(p[1])))
        .collect();
    let dots: String = if points.len() <= 20 {
        points
            .iter()
            .map(|p| {
                format!(
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"#e73\"/>",
                    sx(p[0]),
                    sy(p[1])
                )
            })
            .collect()
    } else {
        String::new()
    };
    format!(
        "<figure class=\"chart\"><svg width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"{t}\">\
         <rect x=\"{pad}\" y=\"{pad}\" width=\"{iw}\" height=\"{iw}\" fill=\"none\" stroke=\"#ccc\"/>\
         <line x1=\"{x0}\" y1=\"{y0}\" x2=\"{x1}\" y2=\"{y1}\" stroke=\"#bbb\" stroke-dasharray=\"4\"/>\
         <polyline points=\"{pts}\" fill=\"none\" stroke=\"#e73\" stroke-width=\"2\"/>{dots}\
         <text x=\"{cx}\" y=\"{by}\" font-size=\"11\" text-anchor=\"middle\">{xl}</text>\
         <text x=\"10\" y=\"{cy}\" font-size=\"11\" text-anchor=\"middle\" transform=\"rotate(-90 10 {cy})\">{yl}</text>\
         </svg><figcaption>{t}</figcaption></figure>",
        t = esc(title),
        iw = w - 2.0 * pad,
        x0 = sx(0.0),
        y0 = sy(0.0),
        x1 = sx(1.0),
        y1 = sy(1.0),
        pts = line.join(" "),
        cx = w / 2.0,
        by = h - 8.0,
        cy = h / 2.0,
        xl = esc(x),
        yl = esc(y),
    )
}

/// A scatter plot of `points` (`[x, y]`) scaled to their range, with the diagonal `y = x`
/// when `band` is `None` (predicted against actual), else the line `y = 0` and dashed lines at
/// `±band` (residuals and an interval's half-width).
pub fn scatter(title: &str, x: &str, y: &str, points: &[[f64; 2]], band: Option<f64>) -> String {
    let (w, h, pad) = (260.0, 220.0, 30.0);
    let finite = |v: &f64| v.is_finite();
    let xs = points.iter().map(|p| p[0]).filter(finite);
    let ys = points.iter().map(|p| p[1]).filter(finite);
    let range = |it: &mut dyn Iterator<Item = f64>| {
        it.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        })
    };
    let (mut x0, mut x1) = range(&mut xs.clone());
    let (mut y0, mut y1) = range(&mut ys.clone());
    if band.is_none() {
        // The same scale on both axes, so that the diagonal means equality.
        (x0, x1) = (x0.min(y0), x1.max(y1));
        (y0, y1) = (x0, x1);
    } else if let Some(b) = band {
        let m = y0.abs().max(y1.abs()).max(b);
        (y0, y1) = (-m, m);
    }
    if !(x0.is_finite() && x1.is_finite() && y0.is_finite() && y1.is_finite()) {
        return format!("<p><small>{}: no points</small></p>", esc(title));
    }
    let span = |lo: f64, hi: f64| if hi > lo { hi - lo } else { 1.0 };
    let sx = |v: f64| pad + (v - x0) / span(x0, x1) * (w - 2.0 * pad);
    let sy = |v: f64| h - pad - (v - y0) / span(y0, y1) * (h - 2.0 * pad);
    let mut marks = String::new();
    match band {
        None => {
            let _ = write!(
                marks,
                "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#bbb\" stroke-dasharray=\"4\"/>",
                sx(x0),
                sy(x0),
                sx(x1),
                sy(x1)
            );
        }
        Some(b) => {
            for (v, dash) in [
                (0.0, ""),
                (b, " stroke-dasharray=\"4\""),
                (-b, " stroke-dasharray=\"4\""),
            ] {
                let _ = write!(
                    marks,
                    "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#bbb\"{dash}/>",
                    sx(x0),
                    sy(v),
                    sx(x1),
                    sy(v)
                );
            }
        }
    }
    for p in points
        .iter()
        .filter(|p| p[0].is_finite() && p[1].is_finite())
    {
        let _ = write!(
            marks,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2\" fill=\"#e73\" fill-opacity=\"0.6\"/>",
            sx(p[0]),
            sy(p[1])
        );
    }
    format!(
        "<figure class=\"chart\"><svg width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"{t}\">\
         <rect x=\"{pad}\" y=\"{pad}\" width=\"{iw}\" height=\"{ih}\" fill=\"none\" stroke=\"#ccc\"/>{marks}\
         <text x=\"{cx}\" y=\"{by}\" font-size=\"11\" text-anchor=\"middle\">{xl}</text>\
         <text x=\"10\" y=\"{cy}\" font-size=\"11\" text-anchor=\"middle\" transform=\"rotate(-90 10 {cy})\">{yl}</text>\
         </svg><figcaption>{t}</figcaption></figure>",
        t = esc(title),
        iw = w - 2.0 * pad,
        ih = h - 2.0 * pad,
        cx = w / 2.0,
        by = h - 8.0,
        cy = h / 2.0,
        xl = esc(x),
        yl = esc(y),
    )
}

/// A metric's history: its values (`[step, value]`, in step order) joined by a line, scaled to
/// their range, with the first and last step and the lowest and highest value marked.
pub fn history(title: &str, points: &[[f64; 2]]) -> String {
    let (w, h, pad) = (260.0, 180.0, 34.0);
    let finite: Vec<[f64; 2]> = points
        .iter()
        .copied()
        .filter(|p| p[0].is_finite() && p[1].is_finite())
        .collect();
    let Some(first) = finite.first() else {
        return format!("<p><small>{}: no finite values</small></p>", esc(title));
    };
    let (mut x0, mut x1, mut y0, mut y1) = (first[0], first[0], first[1], first[1]);
    for p in &finite {
        (x0, x1) = (x0.min(p[0]), x1.max(p[0]));
        (y0, y1) = (y0.min(p[1]), y1.max(p[1]));
    }
    let span = |lo: f64, hi: f64| if hi > lo { hi - lo } else { 1.0 };
    let sx = |v: f64| pad + (v - x0) / span(x0, x1) * (w - 2.0 * pad);
    let sy = |v: f64| h - pad - (v - y0) / span(y0, y1) * (h - 2.0 * pad);
    let line: Vec<String> = finite
        .iter()
        .map(|p| format!("{:.1},{:.1}", sx(p[0]), sy(p[1])))
        .collect();
    let mut dots = String::new();
    if finite.len() <= 50 {
        for p in &finite {
            let _ = write!(
                dots,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"#e73\"/>",
                sx(p[0]),
                sy(p[1])
            );
        }
    }
    format!(
        "<figure class=\"chart\"><svg width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"{t}\">\
         <rect x=\"{pad}\" y=\"{pad}\" width=\"{iw}\" height=\"{ih}\" fill=\"none\" stroke=\"#ccc\"/>\
         <polyline points=\"{pts}\" fill=\"none\" stroke=\"#e73\" stroke-width=\"2\"/>{dots}\
         <text x=\"{pad}\" y=\"{by}\" font-size=\"10\">{sx0}</text>\
         <text x=\"{rx}\" y=\"{by}\" font-size=\"10\" text-anchor=\"end\">step {sx1}</text>\
         <text x=\"2\" y=\"{ty}\" font-size=\"10\">{sy1}</text>\
         <text x=\"2\" y=\"{bty}\" font-size=\"10\">{sy0}</text>\
         </svg><figcaption>{t}</figcaption></figure>",
        t = esc(title),
        iw = w - 2.0 * pad,
        ih = h - 2.0 * pad,
        pts = line.join(" "),
        by = h - 10.0,
        rx = w - pad,
        ty = pad - 4.0,
        bty = h - pad + 12.0,
        sx0 = num(x0),
        sx1 = num(x1),
        sy0 = num(y0),
        sy1 = num(y1),
    )
}

/// A confusion matrix as a table shaded by each cell's share of its true class.
pub fn confusion(classes: &[String], m: &[Vec<usize>]) -> String {
    let mut h = String::from("<table class=\"cm\"><tr><th>true \\ predicted</th>");
    for c in classes {
        let _ = write!(h, "<th>{}</th>", esc(c));
    }
    h.push_str("</tr>");
    for (i, row) in m.iter().enumerate() {
        let total: usize = row.iter().sum();
        let _ = write!(
            h,
            "<tr><th>{}</th>",
            esc(classes.get(i).map_or("?", String::as_str))
        );
        for &v in row {
            let share = if total == 0 {
                0.0
            } else {
                v as f64 / total as f64
            };
            let _ = write!(
                h,
                "<td style=\"background:rgba(238,119,51,{:.2})\">{v}</td>",
                share * 0.8
            );
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_everywhere_it_is_shown() {
        assert_eq!(
            esc("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
        assert!(flash(false, "<script>").contains("&lt;script&gt;"));
        let t = table("t", &["<h>"], &[vec!["ok".into()]]);
        assert!(t.contains("<th>&lt;h&gt;</th>") && t.contains("<td>ok</td>"));
    }
}
