//! `vt-agent service install|uninstall|start|stop|status`: the agent as a Windows service.

use std::process::ExitCode;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Register "VT-Audit Agent" (service `vt-agent`, automatic start, LocalSystem), running
    /// `<this exe> run --service`. Needs Administrator.
    Install {
        /// Arguments the SCM passes to the agent (test hook for other entry points).
        #[arg(long, hide = true, default_value = "run --service")]
        service_args: String,
    },
    /// Stop the service if it runs and remove it. Needs Administrator.
    Uninstall,
    /// Start the service and wait until it runs.
    Start,
    /// Stop the service and wait until it has stopped.
    Stop,
    /// Print the service state. Exit status: 0 running, 3 installed but not running, 4 not installed.
    Status,
    /// A service body that only waits for Stop: checks the SCM plumbing (install with
    /// `--service-args "service idle"`). Not for production use.
    #[command(hide = true)]
    Idle,
}

/// On Linux the same verbs manage a systemd unit.
#[cfg(not(windows))]
pub fn run(cmd: ServiceCommand) -> anyhow::Result<ExitCode> {
    use crate::service::systemd;
    let message = match cmd {
        ServiceCommand::Install { .. } => systemd::install()?,
        ServiceCommand::Uninstall => systemd::uninstall()?,
        ServiceCommand::Start => systemd::start()?,
        ServiceCommand::Stop => systemd::stop()?,
        ServiceCommand::Status => {
            let (word, running) = systemd::status()?;
            println!("{word}");
            return Ok(ExitCode::from(if running { 0 } else { 3 }));
        }
        ServiceCommand::Idle => anyhow::bail!("`service idle` exists only for the Windows service manager"),
    };
    println!("{message}");
    Ok(ExitCode::from(0))
}

#[cfg(windows)]
pub fn run(cmd: ServiceCommand) -> anyhow::Result<ExitCode> {
    imp::run(cmd)
}

#[cfg(windows)]
mod imp {
    use std::ffi::OsString;
    use std::process::ExitCode;
    use std::time::{Duration, Instant};

    use anyhow::{anyhow, bail, Context};
    use windows_service::service::{
        Service, ServiceAccess, ServiceErrorControl, ServiceInfo, ServiceStartType, ServiceState, ServiceType,
    };
    use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};

    use super::ServiceCommand;
    use crate::service::{StopSignal, DESCRIPTION, DISPLAY_NAME, SERVICE_NAME};

    const ERROR_ACCESS_DENIED: i32 = 5;
    const ERROR_SERVICE_DOES_NOT_EXIST: i32 = 1060;
    const ERROR_SERVICE_EXISTS: i32 = 1073;
    const ERROR_SERVICE_ALREADY_RUNNING: i32 = 1056;
    const ERROR_SERVICE_NOT_ACTIVE: i32 = 1062;
    const ERROR_SERVICE_REQUEST_TIMEOUT: i32 = 1053;
    const ERROR_SERVICE_DATABASE_LOCKED: i32 = 1055;

    fn os_code(e: &windows_service::Error) -> Option<i32> {
        match e {
            windows_service::Error::Winapi(io) => io.raw_os_error(),
            _ => None,
        }
    }

    /// Adds the hint people need most: these operations require an elevated prompt.
    fn explain(e: windows_service::Error, what: &str) -> anyhow::Error {
        if os_code(&e) == Some(ERROR_ACCESS_DENIED) {
            anyhow!("{what}: access denied (requires Administrator: run from an elevated prompt)")
        } else {
            anyhow::Error::new(e).context(what.to_string())
        }
    }

    fn manager(access: ServiceManagerAccess) -> anyhow::Result<ServiceManager> {
        ServiceManager::local_computer(None::<&str>, access)
            .map_err(|e| explain(e, "cannot open the Service Control Manager"))
    }

    /// `Ok(None)` when the service is not installed.
    fn open(access: ServiceAccess) -> anyhow::Result<Option<Service>> {
        let m = manager(ServiceManagerAccess::CONNECT)?;
        match m.open_service(SERVICE_NAME, access) {
            Ok(s) => Ok(Some(s)),
            Err(e) if os_code(&e) == Some(ERROR_SERVICE_DOES_NOT_EXIST) => Ok(None),
            Err(e) => Err(explain(e, &format!("cannot open service {SERVICE_NAME}"))),
        }
    }

    fn state_word(s: ServiceState) -> &'static str {
        match s {
            ServiceState::Stopped => "stopped",
            ServiceState::StartPending => "start_pending",
            ServiceState::StopPending => "stop_pending",
            ServiceState::Running => "running",
            ServiceState::ContinuePending => "continue_pending",
            ServiceState::PausePending => "pause_pending",
            ServiceState::Paused => "paused",
        }
    }

    fn wait_for(service: &Service, want: ServiceState, limit: Duration) -> anyhow::Result<ServiceState> {
        let deadline = Instant::now() + limit;
        loop {
            let state = service
                .query_status()
                .map_err(|e| explain(e, "cannot query the service"))?
                .current_state;
            if state == want || Instant::now() >= deadline {
                return Ok(state);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn run(cmd: ServiceCommand) -> anyhow::Result<ExitCode> {
        match cmd {
            ServiceCommand::Install { service_args } => install(&service_args),
            ServiceCommand::Uninstall => uninstall(),
            ServiceCommand::Start => start(),
            ServiceCommand::Stop => stop(),
            ServiceCommand::Status => status(),
            ServiceCommand::Idle => {
                crate::service::windows::run_as_service(idle)?;
                Ok(ExitCode::SUCCESS)
            }
        }
    }

    fn idle(stop: StopSignal) -> anyhow::Result<()> {
        while !stop.wait_timeout(Duration::from_secs(3600)) {}
        Ok(())
    }

    fn install(service_args: &str) -> anyhow::Result<ExitCode> {
        let exe = std::env::current_exe().context("cannot find this program's path")?;
        // Checked first rather than relying on CreateService's ERROR_SERVICE_EXISTS, which
        // Wine's SCM does not report.
        if open(ServiceAccess::QUERY_STATUS)?.is_some() {
            bail!("service {SERVICE_NAME} is already installed (uninstall it first to change it)");
        }
        let m = manager(ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE)?;
        let info = ServiceInfo {
            name: OsString::from(SERVICE_NAME),
            display_name: OsString::from(DISPLAY_NAME),
            service_type: ServiceType::OWN_PROCESS,
            start_type: ServiceStartType::AutoStart,
            error_control: ServiceErrorControl::Normal,
            executable_path: exe.clone(),
            launch_arguments: service_args.split_whitespace().map(OsString::from).collect(),
            dependencies: vec![],
            // None = LocalSystem: the probes read machine-wide security settings.
            account_name: None,
            account_password: None,
        };
        let service =
            match m.create_service(&info, ServiceAccess::CHANGE_CONFIG | ServiceAccess::QUERY_STATUS) {
                Ok(s) => s,
                Err(e) if os_code(&e) == Some(ERROR_SERVICE_EXISTS) => {
                    bail!("service {SERVICE_NAME} is already installed (uninstall it first to change it)")
                }
                Err(e) => return Err(explain(e, "cannot create the service")),
            };
        // The description is cosmetic; Wine and old systems may not support setting it.
        let _ = service.set_description(DESCRIPTION);
        println!(
            "installed service {SERVICE_NAME} ({DISPLAY_NAME}): {} {service_args}",
            exe.display()
        );
        Ok(ExitCode::SUCCESS)
    }

    fn uninstall() -> anyhow::Result<ExitCode> {
        let Some(service) = open(ServiceAccess::QUERY_STATUS | ServiceAccess::STOP | ServiceAccess::DELETE)?
        else {
            println!("service {SERVICE_NAME} is not installed");
            return Ok(ExitCode::SUCCESS);
        };
        let state = service
            .query_status()
            .map_err(|e| explain(e, "cannot query the service"))?
            .current_state;
        if state != ServiceState::Stopped {
            match service.stop() {
                Ok(_) => {}
                Err(e) if os_code(&e) == Some(ERROR_SERVICE_NOT_ACTIVE) => {}
                Err(e) => return Err(explain(e, "cannot stop the service")),
            }
            wait_for(&service, ServiceState::Stopped, Duration::from_secs(30))?;
        }
        service
            .delete()
            .map_err(|e| explain(e, "cannot delete the service"))?;
        println!("uninstalled service {SERVICE_NAME}");
        Ok(ExitCode::SUCCESS)
    }

    fn start() -> anyhow::Result<ExitCode> {
        let service = open(ServiceAccess::START | ServiceAccess::QUERY_STATUS)?.ok_or_else(|| {
            anyhow!("service {SERVICE_NAME} is not installed (run `vt-agent service install`)")
        })?;
        // "Database locked" is transient: the SCM refuses starts while another service is
        // starting (Wine's SCM does so for as long as one of its own services is pending).
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match service.start::<&str>(&[]) {
                Ok(()) => break,
                Err(e) if os_code(&e) == Some(ERROR_SERVICE_ALREADY_RUNNING) => break,
                // The SCM gave up waiting for the process to report; it may still come up.
                Err(e) if os_code(&e) == Some(ERROR_SERVICE_REQUEST_TIMEOUT) => break,
                Err(e) if os_code(&e) == Some(ERROR_SERVICE_DATABASE_LOCKED) && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => return Err(explain(e, "cannot start the service")),
            }
        }
        let state = wait_for(&service, ServiceState::Running, Duration::from_secs(30))?;
        println!("{SERVICE_NAME}: {}", state_word(state));
        if state != ServiceState::Running {
            bail!(
                "service {SERVICE_NAME} did not reach running within 30 s (state: {})",
                state_word(state)
            );
        }
        Ok(ExitCode::SUCCESS)
    }

    fn stop() -> anyhow::Result<ExitCode> {
        let service = open(ServiceAccess::STOP | ServiceAccess::QUERY_STATUS)?
            .ok_or_else(|| anyhow!("service {SERVICE_NAME} is not installed"))?;
        match service.stop() {
            Ok(_) => {}
            Err(e) if os_code(&e) == Some(ERROR_SERVICE_NOT_ACTIVE) => {}
            Err(e) => return Err(explain(e, "cannot stop the service")),
        }
        let state = wait_for(&service, ServiceState::Stopped, Duration::from_secs(30))?;
        println!("{SERVICE_NAME}: {}", state_word(state));
        if state != ServiceState::Stopped {
            bail!(
                "service {SERVICE_NAME} did not stop within 30 s (state: {})",
                state_word(state)
            );
        }
        Ok(ExitCode::SUCCESS)
    }

    fn status() -> anyhow::Result<ExitCode> {
        let Some(service) = open(ServiceAccess::QUERY_STATUS)? else {
            println!("{SERVICE_NAME}: not installed");
            return Ok(ExitCode::from(4));
        };
        let state = service
            .query_status()
            .map_err(|e| explain(e, "cannot query the service"))?
            .current_state;
        println!("{SERVICE_NAME}: {}", state_word(state));
        Ok(ExitCode::from(if state == ServiceState::Running { 0 } else { 3 }))
    }
}
