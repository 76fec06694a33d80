"""shared-record: keep one customer record across a CRM (Salesforce) and a CS platform (Gainsight-style).

Library code imported by the DAGs in `dags/`. Pure core (dictionary, ownership, plans) has no Airflow or HTTP
imports; hooks and the write path hold the I/O.
"""
