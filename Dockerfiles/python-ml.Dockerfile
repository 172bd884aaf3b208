ARG REGISTRY=127.0.0.1:5000/demo
FROM ${REGISTRY}/python-base:latest
COPY requirements/ml.txt /opt/requirements/ml.txt
RUN --mount=type=cache,id=pip,target=/root/.cache/pip,sharing=locked \
    cp /opt/requirements/ml.txt /root/.cache/pip/ml.txt && \
    cat /opt/requirements/ml.txt >> /opt/venv/installed.txt
