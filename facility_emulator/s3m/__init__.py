"""The OLCF S3M flavour: status, token introspection and slurmrestd v0.0.43 job routes."""
