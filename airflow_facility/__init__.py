"""airflow_facility: an Airflow provider for the REST APIs of HPC facilities.

Operators and sensors are facility-agnostic: the connection (one connection type per API) decides
which API they speak. Submit-and-wait can defer to the triggerer, where every wait of one
connection shares one batched status request per resource and interval.
"""

__version__ = "0.1.0"
