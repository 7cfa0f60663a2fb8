//! Headless Chromium driven through chromedriver (WebDriver, with `fantoccini`): the
//! binaries Debian's `chromium` and `chromium-driver` install, a chromedriver on a free
//! loopback port, one browser session, and full-page screenshots at a phone's and a
//! desktop's width.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// A phone's width (the page must work there) and a desktop's, in CSS pixels.
pub const PHONE: u32 = 375;
pub const DESKTOP: u32 = 1280;
/// The window height while the flow runs (screenshots grow it to the page's height).
const HEIGHT: u32 = 900;
/// The longest a screenshot gets, in pixels.
const MAX_HEIGHT: u32 = 4000;
/// How long an element or a text may take to appear (a shared 2-core machine).
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Where the browser's binaries are.
pub struct Installed {
    pub chromium: PathBuf,
    pub chromedriver: PathBuf,
}

/// The browser, from `COMMS_CHROMIUM` / `COMMS_CHROMEDRIVER` (set by scripts/test) or
/// Debian's paths; `None` when either is missing.
pub fn installed() -> Option<Installed> {
    let path =
        |var: &str, default: &str| PathBuf::from(std::env::var(var).unwrap_or_else(|_| default.to_owned()));
    let found = Installed {
        chromium: path("COMMS_CHROMIUM", "/usr/bin/chromium"),
        chromedriver: path("COMMS_CHROMEDRIVER", "/usr/bin/chromedriver"),
    };
    (found.chromium.is_file() && found.chromedriver.is_file()).then_some(found)
}

/// A running chromedriver, killed when dropped.
struct Chromedriver {
    child: Child,
    url: String,
}

impl Drop for Chromedriver {
    /// Stops the browser it started too: a session not closed (a failed test) would
    /// leave Chromium running after chromedriver is gone.
    fn drop(&mut self) {
        for pid in children_of(self.child.id()) {
            let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The processes whose parent is `parent` (from /proc).
fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    let ppid = |pid: &str| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // pid (comm) state ppid ...: comm may hold spaces, so read after its ')'.
        stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse::<u32>().ok()
    };
    entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.bytes().all(|b| b.is_ascii_digit()) && ppid(name) == Some(parent))
        .filter_map(|name| name.parse().ok())
        .collect()
}

/// Starts chromedriver on a port it picks (`--port=0`) and reads the port from its
/// "started successfully on port N." line; its output is drained from then on.
fn start_chromedriver(path: &Path) -> Chromedriver {
    let mut child = Command::new(path)
        .arg("--port=0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", path.display()));
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let port = loop {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "chromedriver exited before it was ready");
        if let Some((_, rest)) = line.split_once("started successfully on port ") {
            break rest.trim().trim_end_matches('.').parse::<u16>().unwrap();
        }
    };
    std::thread::spawn(move || for _ in out.lines() {});
    Chromedriver { child, url: format!("http://127.0.0.1:{port}") }
}

/// One headless Chromium session on the console at `base_url`; screenshots go to `shots`.
pub struct Browser {
    client: Client,
    base_url: String,
    shots: PathBuf,
    _driver: Chromedriver,
}

impl Browser {
    /// Starts chromedriver and a session (headless, no sandbox: the tests run as root),
    /// with the page's JavaScript on or off (WebDriver's own scripts run either way).
    pub async fn start(installed: &Installed, base_url: &str, shots: &Path, javascript: bool) -> Browser {
        let driver = start_chromedriver(&installed.chromedriver);
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-gpu".to_owned(),
            "--hide-scrollbars".to_owned(),
            format!("--window-size={PHONE},{HEIGHT}"),
        ];
        let mut options = json!({"binary": installed.chromium, "args": args});
        if !javascript {
            options["prefs"] = json!({"profile.managed_default_content_settings.javascript": 2});
        }
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert("goog:chromeOptions".into(), options);
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&driver.url)
            .await
            .unwrap_or_else(|e| panic!("no browser session from chromedriver: {e}"));
        std::fs::create_dir_all(shots).unwrap();
        let browser =
            Browser { client, base_url: base_url.to_owned(), shots: shots.to_owned(), _driver: driver };
        browser.resize(PHONE, HEIGHT).await;
        browser
    }

    /// Opens `path` (e.g. `/console/today`) on the server.
    pub async fn open(&self, path: &str) {
        self.client.goto(&format!("{}{path}", self.base_url)).await.unwrap();
    }

    /// The path (and query) of the page shown.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// The first element matching `css`, waiting for it to appear.
    pub async fn find(&self, css: &str) -> Element {
        match self.client.wait().at_most(PATIENCE).for_element(Locator::Css(css)).await {
            Ok(found) => found,
            Err(e) => {
                self.shoot("failed").await;
                panic!("no `{css}` on {} (see failed-*.png): {e}", self.path().await)
            }
        }
    }

    /// Every element matching `css` now.
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        self.client.find_all(Locator::Css(css)).await.unwrap()
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap_or_else(|e| panic!("cannot click `{css}`: {e}"));
    }

    /// Clicks `css` and accepts the confirmation it asks for (`hx-confirm`).
    pub async fn click_and_confirm(&self, css: &str) {
        self.click(css).await;
        let start = Instant::now();
        while let Err(e) = self.client.accept_alert().await {
            assert!(start.elapsed() < PATIENCE, "`{css}` asked for no confirmation: {e}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Submits the form `css` with its first button, as a person would.
    pub async fn submit(&self, css: &str) {
        self.click(&format!("{css} button, {css} input[type=submit]")).await;
    }

    /// Types `text` into the field `css` (emptied first).
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// The visible text of `css`.
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    /// What `script` (a function body) returns, as a string.
    pub async fn script(&self, script: &str) -> String {
        let value = self.client.execute(script, vec![]).await.unwrap();
        value.as_str().map_or_else(|| value.to_string(), str::to_owned)
    }

    /// Waits until the text of `css` contains `needle` (htmx may swap it in); returns it.
    pub async fn wait_text(&self, css: &str, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let text = match self.client.find(Locator::Css(css)).await {
                Ok(e) => e.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if text.contains(needle) {
                return text;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "`{css}` on {} never showed {needle:?}: {text:?}",
                self.path().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Reloads `path` until the text of `css` contains `needle` (what a worker writes
    /// shows on the next load); returns it.
    pub async fn reload_until(&self, path: &str, css: &str, needle: &str) -> String {
        let start = Instant::now();
        loop {
            self.open(path).await;
            let text = self.text(css).await;
            if text.contains(needle) {
                return text;
            }
            assert!(start.elapsed() < PATIENCE, "`{css}` on {path} never showed {needle:?}: {text:?}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Saves the page as `{name}-375.png` and `{name}-1280.png`, each as tall as the page
    /// at that width, then goes back to the phone's width.
    pub async fn shoot(&self, name: &str) {
        for width in [PHONE, DESKTOP] {
            self.resize(width, HEIGHT).await;
            let height = self.page_height().await.clamp(HEIGHT, MAX_HEIGHT);
            self.resize(width, height).await;
            let png = self.client.screenshot().await.unwrap();
            std::fs::write(self.shots.join(format!("{name}-{width}.png")), png).unwrap();
        }
        self.resize(PHONE, HEIGHT).await;
    }

    /// Makes the page's viewport `width` × `height` CSS pixels: the window is resized,
    /// then corrected by the frame it turns out to have (a resize may show late).
    async fn resize(&self, width: u32, height: u32) {
        let want = [i64::from(width), i64::from(height)];
        let mut window = want;
        let mut inner = [0, 0];
        for _ in 0..20 {
            let size = |i: usize| u32::try_from(window[i].max(1)).unwrap();
            self.client.set_window_size(size(0), size(1)).await.unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
            let got = self.client.execute("return [innerWidth, innerHeight];", vec![]).await.unwrap();
            inner = [0, 1].map(|i| got[i].as_i64().unwrap_or(0));
            if inner == want {
                return;
            }
            window = [0, 1].map(|i| window[i] + want[i] - inner[i]);
        }
        assert_eq!(inner[0], want[0], "the viewport is not {width} px wide");
    }

    async fn page_height(&self) -> u32 {
        let h = self.client.execute("return document.documentElement.scrollHeight;", vec![]).await.unwrap();
        h.as_u64().unwrap_or(HEIGHT.into()) as u32
    }

    /// Ends the session (the browser exits); chromedriver stops when dropped.
    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}
