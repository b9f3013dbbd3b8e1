# Extends the official image (https://airflow.apache.org/docs/docker-stack/build.html) rather than
# installing packages at container start: the image then carries exactly the versions in
# requirements.lock, the same ones CI and the developers' virtualenvs are tested with.
FROM apache/airflow:3.3.2-python3.11

COPY requirements.txt requirements.lock /opt/powerpro-moodle/

# The official image's default user is already airflow; stating it keeps pip out of root's
# site-packages even if a root step is added above later. Re-pinning apache-airflow to the
# image's own version is the docs' guard against pip swapping Airflow out from under the image.
USER airflow
RUN pip install --no-cache-dir \
        "apache-airflow==${AIRFLOW_VERSION}" \
        -r /opt/powerpro-moodle/requirements.txt \
        -c /opt/powerpro-moodle/requirements.lock
