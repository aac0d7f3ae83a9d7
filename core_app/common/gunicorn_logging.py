"""gunicorn's logger for the API: configured by `logconfig_dict` (core_app/gunicorn_conf.py), so
its error log is JSON lines like every other process, with the access log as gunicorn has it
without a logging configuration: off unless `--access-logfile` (or syslog) asks for it.
(gunicorn turns the access log on whenever a logging configuration is given, and then builds
every request's access-log fields.) Imports no Django."""

from __future__ import annotations

from gunicorn import glogging


class Logger(glogging.Logger):
    def _compute_access_log_enabled(self) -> bool:
        cfg = self.cfg
        return bool(cfg.accesslog or (cfg.syslog and not cfg.disable_redirect_access_to_syslog))
