//! The Windows service entry point: hands the agent's loop to the Service Control Manager
//! and turns Stop/Shutdown requests into the loop's [`StopSignal`].

use std::ffi::OsString;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Context;
use windows_service::service::{
    ServiceControl, ServiceControlAccept, ServiceExitCode, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult, ServiceStatusHandle};
use windows_service::{define_windows_service, service_dispatcher};

use super::{StopSignal, SERVICE_NAME};

type Body = fn(StopSignal) -> anyhow::Result<()>;

/// The SCM calls `service_main` on a thread of its own with no way to pass data, so the
/// body is handed over through this cell (set once, before the dispatcher starts).
static BODY: OnceLock<Body> = OnceLock::new();

define_windows_service!(ffi_service_main, service_main);

/// Runs `body` as the `vt-agent` service. Blocks until the service stops; fails at once
/// when the process was not started by the SCM (e.g. run from a console).
pub fn run_as_service(body: Body) -> anyhow::Result<()> {
    BODY.set(body)
        .map_err(|_| anyhow::anyhow!("run_as_service was called twice"))?;
    service_dispatcher::start(SERVICE_NAME, ffi_service_main)
        .context("cannot connect to the Service Control Manager (is this process started as a service?)")
}

fn status(state: ServiceState, exit: ServiceExitCode, wait_hint: Duration) -> ServiceStatus {
    ServiceStatus {
        service_type: ServiceType::OWN_PROCESS,
        current_state: state,
        controls_accepted: if state == ServiceState::Running {
            ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN
        } else {
            ServiceControlAccept::empty()
        },
        exit_code: exit,
        checkpoint: 0,
        wait_hint,
        process_id: None,
    }
}

fn report(handle: &ServiceStatusHandle, state: ServiceState, exit: ServiceExitCode, wait_hint: Duration) {
    // Nothing useful can be done if the SCM refuses a status update; the agent goes on.
    let _ = handle.set_service_status(status(state, exit, wait_hint));
}

fn service_main(_args: Vec<OsString>) {
    let stop = StopSignal::new();
    let handler_stop = stop.clone();
    let status_cell: std::sync::Arc<OnceLock<ServiceStatusHandle>> = Default::default();
    let handler_status = status_cell.clone();
    // Runs on the SCM's control thread: it must return quickly, so it only raises the
    // signal and reports "stop pending" while the body winds down.
    let handler = move |control| match control {
        ServiceControl::Stop | ServiceControl::Shutdown | ServiceControl::Preshutdown => {
            handler_stop.stop();
            if let Some(h) = handler_status.get() {
                report(
                    h,
                    ServiceState::StopPending,
                    ServiceExitCode::Win32(0),
                    Duration::from_secs(15),
                );
            }
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    };
    let Ok(handle) = service_control_handler::register(SERVICE_NAME, handler) else {
        return;
    };
    let _ = status_cell.set(handle);
    report(
        &handle,
        ServiceState::Running,
        ServiceExitCode::Win32(0),
        Duration::ZERO,
    );
    let result = match BODY.get() {
        Some(body) => body(stop),
        None => Err(anyhow::anyhow!("no service body was registered")),
    };
    let exit = match &result {
        Ok(()) => ServiceExitCode::Win32(0),
        Err(e) => {
            eprintln!("vt-agent service: {e:#}");
            ServiceExitCode::ServiceSpecific(1)
        }
    };
    report(&handle, ServiceState::Stopped, exit, Duration::ZERO);
}
