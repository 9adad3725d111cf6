"""Plain slurmrestd (Slurm REST API) emulation: the API OLCF S3M puts behind its gateway."""
