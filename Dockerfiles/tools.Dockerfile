ARG REGISTRY=127.0.0.1:5000/demo
FROM ${REGISTRY}/python-base:latest
COPY requirements/tools.txt /opt/requirements/tools.txt
RUN --mount=type=cache,id=pip,target=/root/.cache/pip,sharing=locked \
    cp /opt/requirements/tools.txt /root/.cache/pip/tools.txt && \
    cat /opt/requirements/tools.txt >> /opt/venv/installed.txt
