"""How the FirecREST v2 server reports failures of the commands it runs, for reference mode.

The server (``eth-cscs/firecrest-v2``, SSH connection mode over Slurm) runs coreutils and Slurm
commands through SSH and turns their failures into answers in three ways, reproduced here:

* a failed file command (``filesystem/ops/commands/base_command_error_handling.py``):
  ``"Remote process failed with exit status:N and error message:<stderr>"``, 404 when stderr says
  ``No such file or directory``, 403 for ``Permission denied``/``Operation not permitted``, 400
  for ``File exists``/``invalid user``, 408 for ``timeout``'s exit status 124, else 500;
* a failed Slurm command (``lib/scheduler_clients/slurm/cli_commands/*``): 500
  ``"Unexpected Slurm command response. exit_status:N std_err:<stderr>"``, also when the command
  exited 0 but wrote ``error:`` (``scancel --verbose`` of a job that has ended does);
* any command's output reaching the system's ``max_ops_file_size`` (the SSH client's read buffer,
  ``lib/ssh_clients/ssh_client.py``): 413 ``"Command output exceeded buffer limit."``.

It also refuses every scheduler call while the scheduler's health check fails, and every file
call while SSH's does (``firecrest/dependencies.py``), with 503.
"""

from __future__ import annotations

from facility_emulator.firecrest.common import FirecrestError, SystemConfig

OUTPUT_LIMIT = "Command output exceeded buffer limit."


def remote_failure(exit_status: int, stderr: str) -> FirecrestError:
    """The answer to a file command that failed with ``exit_status`` and ``stderr``."""
    message = f"Remote process failed with exit status:{exit_status}"
    if stderr:
        message += f" and error message:{stderr.strip()}"
    if exit_status == 124:
        return FirecrestError(408, message)
    if "No such file or directory" in stderr:
        return FirecrestError(404, message)
    if "Permission denied" in stderr or "Operation not permitted" in stderr:
        return FirecrestError(403, message)
    if "File exists" in stderr or "invalid user" in stderr:
        return FirecrestError(400, message)
    return FirecrestError(500, message)


def slurm_failure(exit_status: int, stderr: str) -> FirecrestError:
    """The answer to a Slurm command that failed (or wrote an error) with ``stderr``."""
    return FirecrestError(
        500, f"Unexpected Slurm command response. exit_status:{exit_status} std_err:{stderr}"
    )


def check_output(system: SystemConfig, size: int) -> None:
    """Refuse an answer whose command output (``size`` bytes) reaches the SSH read buffer."""
    if size >= system.max_ops_file_size:
        raise FirecrestError(413, OUTPUT_LIMIT)


def base64_length(size: int) -> int:
    """Bytes ``base64 --wrap=0`` writes for a file of ``size`` bytes (what ``ops/download`` reads)."""
    return 4 * ((size + 2) // 3)


def unhealthy(system: SystemConfig, service: str) -> FirecrestError:
    """The 503 of a call that needs ``service`` (``scheduler`` or ``ssh``) while it is unhealthy."""
    return FirecrestError(
        503, f"The {service} service for the requested system ({system.name}) is unhealthy."
    )
