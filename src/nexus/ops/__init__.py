"""Operator tools: the doctor, cleanup of stale processes, service installers, alerts and the OpenClaw
importer. They look at the gateway from outside (files under ``run/``, processes, the port) and never
import it. This ``__init__`` imports only the finding types and re-exports the alerts (``nexus.alerts``,
which sits low enough for the gateway and the supervisor to call), so any module here loads alone.

Public entry points, each in its own module:
    nexus.ops.doctor    DoctorEnv, run_doctor, gather, diagnose, apply_fixes
    nexus.ops.cleanup   kill_stale
    nexus.ops.service   ServiceHost, plan_install, install, uninstall, service_status
    nexus.alerts        Alerter, Alert and the detectors (profile_alerts, crash_loop_alert, ...)
    nexus.ops.openclaw  plan_import, apply_import
"""

from nexus.alerts import Alert, Alerter, AlertKind, Verdict
from nexus.ops.findings import Finding, Fix, FixKind, Severity, exit_code

__all__ = ["Alert", "AlertKind", "Alerter", "Finding", "Fix", "FixKind", "Severity", "Verdict", "exit_code"]
