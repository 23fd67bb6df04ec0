//! The incident room's page weight: the HTML and every asset it references (found in the
//! page: stylesheet, scripts, icon), as Firebreak serves them now (asked with
//! `Accept-Encoding: gzip, deflate, br`, as a browser asks) and as `gzip -6` would compress
//! each; then a cold first load (a new connection, every file fetched one after the other
//! over loopback) timed against nginx serving the same files with `gzip on` (level 6) in the
//! same run, and beside a second nginx serving files compressed ahead of time
//! (`gzip_static`). Two rooms: a fresh incident (the few entries declaring makes) and one with 1,000
//! entries (the most the room shows).
//!
//! Run: `cargo run --release -p firebreak-bench -- weight`

use std::time::{Duration, Instant};

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use crate::web::{self, ms, thousands};

#[derive(clap::Args)]
pub struct WeightArgs {
    /// Timeline entries of the larger room.
    #[arg(long, default_value_t = 1000)]
    entries: usize,
    /// Cold loads timed per target.
    #[arg(long, default_value_t = 200)]
    loads: usize,
}

const ACCEPT_ENCODING: &str = "gzip, deflate, br";

/// One file of a page as one server sent it.
struct Fetched {
    path: String,
    status: u16,
    /// Bytes on the wire (compressed when the server compressed).
    sent: usize,
    /// `content-encoding`, if any.
    encoding: Option<String>,
    /// The bytes after decoding (what the browser gets).
    body: Vec<u8>,
}

async fn fetch(
    http: &reqwest::Client,
    url: &str,
    path: &str,
    cookie: Option<&str>,
) -> anyhow::Result<Fetched> {
    let mut req = http
        .get(format!("{url}{path}"))
        .header("accept-encoding", ACCEPT_ENCODING);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let r = req.send().await?;
    let status = r.status().as_u16();
    let encoding = r
        .headers()
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let raw = r.bytes().await?.to_vec();
    let sent = raw.len();
    let body = if encoding.as_deref() == Some("gzip") {
        gunzip(&raw)?
    } else {
        raw
    };
    Ok(Fetched {
        path: path.to_string(),
        status,
        sent,
        encoding,
        body,
    })
}

fn gunzip(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("gzip")
        .args(["-d", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().expect("stdin");
    let input = bytes.to_vec();
    let w = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output()?;
    w.join().map_err(|_| anyhow::anyhow!("gunzip"))??;
    Ok(out.stdout)
}

/// The paths of the files a page references from this server: `href="/..."` and `src="/..."`
/// outside forms and links to other pages (stylesheets, scripts, icons).
fn assets(page: &str) -> Vec<String> {
    let mut out = Vec::new();
    for tag in page.split('<').skip(1) {
        let name = tag.split_whitespace().next().unwrap_or("");
        let attr = match name {
            "link" => "href=\"",
            "script" | "img" => "src=\"",
            _ => continue,
        };
        if let Some(at) = tag.find(attr) {
            let rest = &tag[at + attr.len()..];
            if let Some(end) = rest.find('"') {
                let path = &rest[..end];
                if path.starts_with('/') && !out.iter().any(|p| p == path) {
                    out.push(path.to_string());
                }
            }
        }
    }
    out
}

/// A cold first load: a new client (so a new connection), the page then each asset in turn.
async fn cold_load(
    url: &str,
    paths: &[String],
    cookie: Option<&str>,
) -> anyhow::Result<(Duration, usize)> {
    let http = reqwest::Client::builder().build()?;
    let t = Instant::now();
    let mut bytes = 0;
    for (i, p) in paths.iter().enumerate() {
        let mut req = http
            .get(format!("{url}{p}"))
            .header("accept-encoding", ACCEPT_ENCODING);
        if i == 0
            && let Some(c) = cookie
        {
            req = req.header("cookie", c);
        }
        let r = req.send().await?;
        anyhow::ensure!(r.status() == 200, "{p}: {}", r.status());
        bytes += r.bytes().await?.len();
    }
    Ok((t.elapsed(), bytes))
}

async fn cold_loads(
    url: &str,
    paths: &[String],
    cookie: Option<&str>,
    loads: usize,
) -> anyhow::Result<(Vec<Duration>, usize)> {
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..3 {
        cold_load(url, paths, cookie).await?;
    }
    for _ in 0..loads {
        let (t, b) = cold_load(url, paths, cookie).await?;
        times.push(t);
        bytes = b;
    }
    times.sort();
    Ok((times, bytes))
}

pub async fn main(args: WeightArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir_in(".")?;
    let site = web::start_site(dir.path()).await?;
    let base = site.base.clone();
    let http = reqwest::Client::new();
    let fresh = web::declare(&http, &base, &site.admin, "Checkout errors after deploy").await?;
    let full = web::declare(&http, &base, &site.admin, "A long incident").await?;
    web::fill(&http, &base, &site.admin, full, args.entries).await?;
    let (fresh_len, _) = web::timeline_len(&http, &base, &site.admin, fresh).await?;

    // nginx's copy: each room as a file, the assets at the same paths, gzip on.
    let ngx = dir.path().join("nginx");
    std::fs::create_dir_all(ngx.join("www"))?;
    let mut rooms = Vec::new();
    for (label, n, file) in [
        (
            format!("fresh incident ({fresh_len} timeline entries)"),
            fresh,
            "/room-fresh.html",
        ),
        (
            format!("incident with {} entries", thousands(args.entries)),
            full,
            "/room-full.html",
        ),
    ] {
        let page = fetch(&http, &base, &format!("/incidents/{n}"), Some(&site.cookie)).await?;
        anyhow::ensure!(page.status == 200, "the room answered {}", page.status);
        let text = String::from_utf8_lossy(&page.body).to_string();
        let mut files = vec![page];
        for p in assets(&text) {
            let f = fetch(&http, &base, &p, None).await?;
            anyhow::ensure!(f.status == 200, "{p} answered {}", f.status);
            let local = ngx.join("www").join(p.trim_start_matches('/'));
            std::fs::create_dir_all(local.parent().expect("a parent"))?;
            std::fs::write(&local, &f.body)?;
            files.push(f);
        }
        std::fs::write(
            ngx.join("www").join(file.trim_start_matches('/')),
            &files[0].body,
        )?;
        rooms.push((label, n, file, files));
    }
    let (nginx_guard, nginx_base) = web::start_nginx(
        &ngx,
        "gzip on;\n  gzip_comp_level 6;\n  gzip_types text/css application/javascript image/svg+xml;",
    )
    .await?;
    // A second nginx with each file compressed ahead of time (`gzip_static`), as a server
    // would serve assets built into it: the same bytes without compressing per request.
    let pre = dir.path().join("nginx-static");
    copy_tree(&ngx.join("www"), &pre.join("www"))?;
    gzip_tree(&pre.join("www"))?;
    let (static_guard, static_base) = web::start_nginx(
        &pre,
        "gzip on;\n  gzip_static on;\n  gzip_comp_level 6;\n  gzip_types text/css application/javascript image/svg+xml;",
    )
    .await?;

    let probe_before = crate::flush_probe();
    let load_before = crate::room::loadavg();
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(vec![
        "room",
        "file",
        "Firebreak sends (encoding)",
        "gzip -6",
        "nginx sends (encoding)",
    ]);
    let mut summary = Vec::new();
    for (label, n, file, files) in &rooms {
        let (mut raw, mut gz, mut ngx_sent) = (0, 0, 0);
        let mut paths = vec![format!("/incidents/{n}")];
        let mut ngx_paths = vec![file.to_string()];
        for f in files {
            let g = web::gzip_size(&f.body, 6)?;
            let ngx_path = if f.path.starts_with("/incidents/") {
                file.to_string()
            } else {
                f.path.clone()
            };
            let theirs = fetch(&http, &nginx_base, &ngx_path, None).await?;
            anyhow::ensure!(
                theirs.body == f.body,
                "nginx serves other bytes for {ngx_path}"
            );
            table.add_row(vec![
                label.clone(),
                f.path.clone(),
                format!(
                    "{} ({})",
                    thousands(f.sent),
                    f.encoding.as_deref().unwrap_or("none")
                ),
                thousands(g),
                format!(
                    "{} ({})",
                    thousands(theirs.sent),
                    theirs.encoding.as_deref().unwrap_or("none")
                ),
            ]);
            raw += f.sent;
            gz += g;
            ngx_sent += theirs.sent;
            if !f.path.starts_with("/incidents/") {
                paths.push(f.path.clone());
                ngx_paths.push(f.path.clone());
            }
        }
        table.add_row(vec![
            label.clone(),
            "total".into(),
            thousands(raw),
            thousands(gz),
            thousands(ngx_sent),
        ]);
        let (ours, ours_bytes) = cold_loads(&base, &paths, Some(&site.cookie), args.loads).await?;
        let (theirs, theirs_bytes) = cold_loads(&nginx_base, &ngx_paths, None, args.loads).await?;
        let (pre, pre_bytes) = cold_loads(&static_base, &ngx_paths, None, args.loads).await?;
        summary.push((
            label.clone(),
            raw,
            gz,
            (ours, ours_bytes),
            (theirs, theirs_bytes),
            (pre, pre_bytes),
        ));
    }
    let probe_after = crate::flush_probe();
    let load_after = crate::room::loadavg();
    drop(nginx_guard);
    drop(static_guard);
    println!("\n{table}");
    println!(
        "files the room references: {}",
        rooms[0].3[1..]
            .iter()
            .map(|f| f.path.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut cold = Table::new();
    cold.load_preset(UTF8_FULL_CONDENSED);
    cold.set_header(vec![
        "room",
        "Firebreak: bytes, cold load p50 / p99",
        "nginx (gzip): bytes, cold load p50 / p99",
        "nginx (gzip_static): bytes, cold load p50 / p99",
        "bytes ratio",
        "time ratio p50 (gzip, gzip_static)",
        "target < 100 KB",
    ]);
    let cell = |(times, bytes): &(Vec<Duration>, usize)| {
        format!(
            "{}, {:.2} / {:.2} ms",
            thousands(*bytes),
            ms(web::pct(times, 0.5)),
            ms(web::pct(times, 0.99))
        )
    };
    let p50 = |t: &(Vec<Duration>, usize)| ms(web::pct(&t.0, 0.5));
    for (label, raw, gz, ours, theirs, pre) in &summary {
        cold.add_row(vec![
            label.clone(),
            cell(ours),
            cell(theirs),
            cell(pre),
            format!("{:.2}", ours.1 as f64 / theirs.1 as f64),
            format!(
                "{:.2}, {:.2}",
                p50(ours) / p50(theirs),
                p50(ours) / p50(pre)
            ),
            format!(
                "as served {} KB: {}; gzip {} KB: {}",
                raw / 1000,
                if *raw < 100_000 { "met" } else { "NOT met" },
                gz / 1000,
                if *gz < 100_000 { "met" } else { "NOT met" },
            ),
        ]);
    }
    println!("\n{cold}");
    let compressed = rooms
        .iter()
        .flat_map(|r| r.3.iter())
        .any(|f| f.encoding.is_some());
    println!(
        "Firebreak compresses its answers: {}",
        if compressed {
            "yes"
        } else {
            "no (asked with Accept-Encoding: gzip, deflate, br; no content-encoding on any file)"
        }
    );
    crate::print_conditions(probe_before, probe_after, &load_before, &load_after);
    crate::stop(site.running).await;
    Ok(())
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_tree(&e.path(), &target)?;
        } else {
            std::fs::copy(e.path(), target)?;
        }
    }
    Ok(())
}

/// Writes `name.gz` (`gzip -6`) beside every file under `dir`, for nginx's `gzip_static`.
fn gzip_tree(dir: &std::path::Path) -> anyhow::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            gzip_tree(&e.path())?;
        } else {
            let ok = std::process::Command::new("gzip")
                .args(["-6", "-k", "-n", "-f"])
                .arg(e.path())
                .status()?
                .success();
            anyhow::ensure!(ok, "gzip {}", e.path().display());
        }
    }
    Ok(())
}
