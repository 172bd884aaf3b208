FROM 127.0.0.1:5000/demo/python-ml:latest
COPY requirements/ml-audio.txt /opt/requirements/ml-audio.txt
RUN --mount=type=cache,id=pip,target=/root/.cache/pip,sharing=locked \
    cp /opt/requirements/ml-audio.txt /root/.cache/pip/ml-audio.txt && \
    cat /opt/requirements/ml-audio.txt >> /opt/venv/installed.txt
