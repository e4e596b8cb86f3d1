//! The real terminal: raw mode, the alternate screen, mouse reporting, bracketed paste and (where
//! the terminal supports it) unambiguous key codes so that Shift+Enter is seen; all of it undone on
//! exit, on error and on panic. Key events are read on a thread of their own and the UI loop selects over
//! them, the network's reports and a clock tick.

use std::io::{self, Stdout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{
    self, DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
    KeyboardEnhancementFlags, PopKeyboardEnhancementFlags, PushKeyboardEnhancementFlags,
};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, supports_keyboard_enhancement, EnterAlternateScreen,
    LeaveAlternateScreen,
};
use ratatui::Terminal;
use tokio::sync::mpsc;

use crate::driver::Driver;
use crate::net::NetConfig;
use crate::view;

/// How often the screen is redrawn when nothing happens (typing indicators expire, "last seen"
/// ages).
pub const TICK: Duration = Duration::from_millis(250);

/// Owns the terminal's special modes; restores them when dropped.
struct Guard {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl Guard {
    fn enter() -> anyhow::Result<Guard> {
        install_panic_hook();
        enable_raw_mode().context("switching the terminal to raw mode")?;
        let mut stdout = io::stdout();
        let setup = execute!(
            stdout,
            EnterAlternateScreen,
            EnableMouseCapture,
            EnableBracketedPaste
        );
        if let Err(e) = setup {
            restore();
            return Err(e).context("setting up the terminal");
        }
        if supports_keyboard_enhancement().unwrap_or(false) {
            let _ = execute!(
                stdout,
                PushKeyboardEnhancementFlags(KeyboardEnhancementFlags::DISAMBIGUATE_ESCAPE_CODES)
            );
        }
        match Terminal::new(CrosstermBackend::new(stdout)) {
            Ok(terminal) => Ok(Guard { terminal }),
            Err(e) => {
                restore();
                Err(e).context("opening the terminal")
            }
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        restore();
        let _ = self.terminal.show_cursor();
    }
}

/// Leaves every mode `Guard::enter` set. Safe to call more than once.
fn restore() {
    let mut stdout = io::stdout();
    let _ = execute!(stdout, PopKeyboardEnhancementFlags);
    let _ = execute!(
        stdout,
        DisableBracketedPaste,
        DisableMouseCapture,
        LeaveAlternateScreen,
        ratatui::crossterm::cursor::Show
    );
    let _ = disable_raw_mode();
}

fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
}

/// Runs the UI on this terminal until the user quits.
pub fn run(runtime: &tokio::runtime::Runtime, config: NetConfig) -> anyhow::Result<()> {
    let mut guard = Guard::enter()?;
    let stop = Arc::new(AtomicBool::new(false));
    let (keys_tx, keys) = mpsc::channel(256);
    let reader = {
        let stop = stop.clone();
        std::thread::spawn(move || read_terminal(keys_tx, &stop))
    };
    let result = runtime.block_on(ui_loop(&mut guard.terminal, keys, config));
    stop.store(true, Ordering::Relaxed);
    drop(guard);
    let _ = reader.join();
    result
}

/// Reads terminal events until told to stop or the loop is gone.
fn read_terminal(to: mpsc::Sender<event::Event>, stop: &AtomicBool) -> io::Result<()> {
    while !stop.load(Ordering::Relaxed) {
        if event::poll(Duration::from_millis(100))? {
            let event = event::read()?;
            if to.blocking_send(event).is_err() {
                break;
            }
        }
    }
    Ok(())
}

async fn ui_loop(
    terminal: &mut Terminal<CrosstermBackend<Stdout>>,
    mut keys: mpsc::Receiver<event::Event>,
    config: NetConfig,
) -> anyhow::Result<()> {
    let mut driver = Driver::start(config);
    let mut tick = tokio::time::interval(TICK);
    loop {
        terminal
            .draw(|frame| view::draw(frame, &driver.app))
            .context("drawing")?;
        if driver.app.quit {
            return Ok(());
        }
        tokio::select! {
            key = keys.recv() => match key {
                Some(event) => driver.terminal_event(&event, Instant::now()),
                None => anyhow::bail!("the terminal stopped sending input"),
            },
            report = driver.next_report() => match report {
                Some(report) => driver.report(report, Instant::now()),
                None => anyhow::bail!("the network task ended"),
            },
            _ = tick.tick() => driver.app.tick(Instant::now()),
        }
    }
}
