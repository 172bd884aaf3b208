ARG REGISTRY=127.0.0.1:5000/demo
FROM ${REGISTRY}/python-base:latest
COPY requirements/audio.txt /opt/requirements/audio.txt
RUN --mount=type=cache,id=pip,target=/root/.cache/pip,sharing=locked \
    cp /opt/requirements/audio.txt /root/.cache/pip/audio.txt && \
    cat /opt/requirements/audio.txt >> /opt/venv/installed.txt
