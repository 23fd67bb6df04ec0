//! The incident room, server-rendered: `GET /incidents/{n}` for a signed-in browser, with
//! 1,000 timeline entries, sequentially and from a few concurrent clients, beside the API's
//! timeline (the same 1,000 entries as JSON) and nginx serving a static file of the same size.
//!
//! Set-up: Firebreak in-process on SQLite (WAL, `synchronous=FULL`, in a temp dir), a
//! responder with a password (`POST /api/v1/users`, `PUT /api/v1/users/{handle}/password` with
//! the first admin's token), signed in through `POST /login`; an incident declared through the
//! API and filled with notes until its timeline has 1,000 entries. Each request reads the
//! whole body. Then, to say what the figure is made of: the room of a fresh incident (the
//! entries declaring makes), the room's two fragments (`/state`, `/panels`) on their own, the engine's timeline
//! reads in-process, and the room of an incident with a longer timeline (10,000 entries).
//!
//! Run: `cargo run --release -p firebreak-bench -- room --seconds 10`

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use firebreak_domain::IncidentNumber;
use serde_json::Value;

use crate::web::{self, Job, JobFuture, Measured, get_job, ms, thousands};

#[derive(clap::Args)]
pub struct RoomArgs {
    /// How long each load is measured.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Load before each measurement that is not counted.
    #[arg(long, default_value_t = 1)]
    warmup: u64,
    /// Concurrent clients for the concurrent runs.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Timeline entries of the measured incident.
    #[arg(long, default_value_t = 1000)]
    entries: usize,
    /// Entries of a second incident whose room is measured to show how the room scales with
    /// the timeline's length; 0 skips it.
    #[arg(long, default_value_t = 10_000)]
    long_timeline: usize,
}

/// The API's timeline as a client reads 1,000 entries: `limit=500` (the API's largest page),
/// then the next page with the cursor.
fn api_job(base: &str, token: &str, number: i64) -> Job {
    let url = Arc::new(format!(
        "{base}/api/v1/incidents/{number}/timeline?limit=500"
    ));
    let token = Arc::new(token.to_string());
    Arc::new(move |http: reqwest::Client| -> JobFuture {
        let (url, token) = (url.clone(), token.clone());
        Box::pin(async move {
            let mut bytes = 0;
            let mut cursor: Option<String> = None;
            for _ in 0..2 {
                let u = match &cursor {
                    Some(c) => format!("{url}&cursor={c}"),
                    None => url.to_string(),
                };
                let r = http.get(&u).bearer_auth(token.as_str()).send().await?;
                if r.status() != 200 {
                    bail!("{u}: {}", r.status());
                }
                let body = r.bytes().await?;
                bytes += body.len();
                let page: Value = serde_json::from_slice(&body)?;
                cursor = page["next_cursor"].as_str().map(str::to_string);
                if cursor.is_none() {
                    break;
                }
            }
            Ok(bytes)
        })
    })
}

pub async fn main(args: RoomArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir_in(".")?;
    let site = web::start_site(dir.path()).await?;
    let base = site.base.clone();
    let http = reqwest::Client::new();
    let n = web::declare(&http, &base, &site.admin, "Checkout errors after deploy").await?;
    let t = Instant::now();
    web::fill(&http, &base, &site.admin, n, args.entries).await?;
    eprintln!(
        "incident {n}: {} timeline entries added in {:.1} s",
        args.entries,
        t.elapsed().as_secs_f64()
    );
    let fresh = web::declare(&http, &base, &site.admin, "A fresh incident").await?;
    let (fresh_len, _) = web::timeline_len(&http, &base, &site.admin, fresh).await?;
    let cookie = vec![("cookie", site.cookie.clone())];
    let room_url = format!("{base}/incidents/{n}");

    // The page as a browser gets it.
    let r = http
        .get(&room_url)
        .header("cookie", &site.cookie)
        .send()
        .await?;
    anyhow::ensure!(r.status() == 200, "the room answered {}", r.status());
    let page = r.bytes().await?;
    let shown = String::from_utf8_lossy(&page).matches("<li id=\"e").count();
    anyhow::ensure!(
        shown == args.entries.min(1000),
        "the room shows {shown} entries, not {}",
        args.entries.min(1000)
    );
    // The API refuses pages over 500 entries.
    let api_1000 = http
        .get(format!("{base}/api/v1/incidents/{n}/timeline?limit=1000"))
        .bearer_auth(&site.admin)
        .send()
        .await?
        .status();

    // nginx serving the same bytes as a static file.
    let ngx = dir.path().join("nginx");
    std::fs::create_dir_all(ngx.join("www"))?;
    std::fs::write(ngx.join("www/room.html"), &page)?;
    let (nginx_guard, nginx_base) = web::start_nginx(&ngx, "").await?;

    let warm = Duration::from_secs(args.warmup);
    let secs = Duration::from_secs(args.seconds);
    let half = Duration::from_secs(args.seconds.div_ceil(2));
    let room = get_job(room_url.clone(), cookie.clone());
    let api = api_job(&base, &site.admin, n);
    let nginx = get_job(format!("{nginx_base}/room.html"), vec![]);
    let c = args.clients;

    let probe_before = crate::flush_probe();
    let load_before = loadavg();
    let mut rows: Vec<(String, Measured)> = Vec::new();
    rows.push((
        format!("room, {} entries, 1 client", args.entries),
        web::closed_loop(&room, 1, warm, secs).await?,
    ));
    rows.push((
        format!("room, {} entries, {c} clients", args.entries),
        web::closed_loop(&room, c, warm, secs).await?,
    ));
    rows.push((
        format!(
            "API timeline, {} entries (2 pages of 500), 1 client",
            args.entries
        ),
        web::closed_loop(&api, 1, warm, secs).await?,
    ));
    rows.push((
        format!(
            "API timeline, {} entries (2 pages of 500), {c} clients",
            args.entries
        ),
        web::closed_loop(&api, c, warm, secs).await?,
    ));
    rows.push((
        "nginx, static file of the same size, 1 client".into(),
        web::closed_loop(&nginx, 1, warm, secs).await?,
    ));
    rows.push((
        format!("nginx, static file of the same size, {c} clients"),
        web::closed_loop(&nginx, c, warm, secs).await?,
    ));
    drop(nginx_guard);

    // What the room's time is made of.
    for (label, path) in [
        (
            format!("room of a fresh incident ({fresh_len} entries), 1 client"),
            format!("/incidents/{fresh}"),
        ),
        (
            format!("GET /incidents/{n}/state (header fragment), 1 client"),
            format!("/incidents/{n}/state"),
        ),
        (
            format!("GET /incidents/{n}/panels (panels fragment), 1 client"),
            format!("/incidents/{n}/panels"),
        ),
    ] {
        let job = get_job(format!("{base}{path}"), cookie.clone());
        rows.push((label, web::closed_loop(&job, 1, warm, half).await?));
    }
    let reads = engine_reads(&site.running.app, n, half).await?;
    let probe_after = crate::flush_probe();
    let load_after = loadavg();

    let mut long_row = None;
    if args.long_timeline > 0 {
        let long = web::declare(&http, &base, &site.admin, "A long incident").await?;
        let t = Instant::now();
        web::fill(&http, &base, &site.admin, long, args.long_timeline).await?;
        eprintln!(
            "incident {long}: {} timeline entries added in {:.1} s",
            args.long_timeline,
            t.elapsed().as_secs_f64()
        );
        let m = web::closed_loop(
            &get_job(format!("{base}/incidents/{long}"), cookie.clone()),
            1,
            warm,
            half,
        )
        .await?;
        let reads = engine_reads(&site.running.app, long, half).await?;
        long_row = Some((
            format!(
                "room, {} entries (shows the latest 1,000), 1 client",
                thousands(args.long_timeline)
            ),
            m,
            reads,
        ));
    }

    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(vec![
        "what",
        "requests/s",
        "p50 / p99 / max",
        "body bytes",
        "errors",
    ]);
    let mut add = |name: &str, m: &Measured| {
        table.add_row(vec![
            name.to_string(),
            format!("{:.0}", m.per_s),
            m.line(),
            thousands(m.bytes),
            match &m.first_error {
                Some(e) => format!("{} ({e})", m.errors),
                None => m.errors.to_string(),
            },
        ]);
    };
    for (name, m) in &rows {
        add(name, m);
    }
    if let Some((name, m, _)) = &long_row {
        add(name, m);
    }
    println!("\n{table}");
    println!(
        "GET /api/v1/incidents/{n}/timeline?limit=1000 answers {api_1000} (the API's largest page is 500)"
    );
    println!(
        "engine read the room makes for its timeline (in-process, app.timeline_tail, the newest 1,000): \
         {} entries p50 {:.2} ms p99 {:.2} ms",
        thousands(args.entries),
        ms(reads.0),
        ms(reads.1)
    );
    if let Some((_, _, r)) = &long_row {
        println!(
            "  the same for {} entries: p50 {:.2} ms p99 {:.2} ms",
            thousands(args.long_timeline),
            ms(r.0),
            ms(r.1)
        );
    }
    let ratio = |a: usize, b: usize| {
        let (a, b) = (&rows[a].1, &rows[b].1);
        format!(
            "p50 {:.1}x, p99 {:.1}x, rate {:.3}",
            ms(a.pct(0.5)) / ms(b.pct(0.5)),
            ms(a.pct(0.99)) / ms(b.pct(0.99)),
            a.per_s / b.per_s
        )
    };
    println!("room / nginx, 1 client: {}", ratio(0, 4));
    println!("room / nginx, {c} clients: {}", ratio(1, 5));
    println!("room / API timeline, 1 client: {}", ratio(0, 2));
    println!(
        "target: room p99 under 30 ms: {} (1 client p99 {:.2} ms, {c} clients p99 {:.2} ms)",
        if rows[0].1.pct(0.99) < Duration::from_millis(30)
            && rows[1].1.pct(0.99) < Duration::from_millis(30)
        {
            "met"
        } else {
            "NOT met"
        },
        ms(rows[0].1.pct(0.99)),
        ms(rows[1].1.pct(0.99)),
    );
    crate::print_conditions(probe_before, probe_after, &load_before, &load_after);
    crate::stop(site.running).await;
    Ok(())
}

/// The read the room makes for its timeline, timed in-process: `app.timeline_tail`, the newest
/// 1,000 entries read backwards from the end. Returns p50 and p99.
async fn engine_reads(
    app: &firebreak_engine::Firebreak,
    n: i64,
    span: Duration,
) -> anyhow::Result<(Duration, Duration)> {
    let number = IncidentNumber(n);
    let end = Instant::now() + span;
    let mut times = Vec::new();
    while Instant::now() < end {
        let t = Instant::now();
        app.timeline_tail(number, None, 1000)
            .await
            .map_err(anyhow::Error::new)?;
        times.push(t.elapsed());
    }
    times.sort();
    Ok((web::pct(&times, 0.5), web::pct(&times, 0.99)))
}

/// The 1-minute load average.
pub(crate) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_default()
}
